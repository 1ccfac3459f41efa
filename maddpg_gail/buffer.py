"""A circular replay buffer of joint transitions, stored as one flat tensor on the training device.

A row holds every agent's observation, action (one-hot for discrete) and next observation, then
the rewards and the `terminated` and `truncated` flags. Keeping a row in one tensor makes a
sample a few gathers instead of one per agent and field; keeping rewards and flags side by side
lets an n-step return read them in one.

Each `add` writes one step of K envs, so the next step of the env that wrote row i is row i + K.
That lets `sample` build n-step returns from stored 1-step transitions, stopping at episode ends
and at the newest row: no pending transitions live outside the buffer, and a checkpoint of the
buffer is all an exact resume needs.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from maddpg_gail.config import replay_capacity


class Batch(NamedTuple):
    obs: list[torch.Tensor]  # per agent [B, obs_dim]
    actions: list[torch.Tensor]  # per agent [B, action_dim]
    rewards: torch.Tensor  # [B, n_agents]: discounted sum of the next m <= n_step rewards
    next_obs: list[torch.Tensor]  # per agent [B, obs_dim]: the observation m steps later
    terminated: torch.Tensor  # [B], 1.0 where that observation is terminal (never for a truncation)
    discount: torch.Tensor  # [B], gamma ** m: the weight of the bootstrapped value


# (observations per agent [M, obs_dim], actions per agent [M, action_dim]) -> rewards [M, n_agents]
RewardFn = Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor]


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        obs_dims: list[int],
        action_dims: list[int],
        device: torch.device,
        seed: int,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.95,
    ):
        self.capacity = replay_capacity(capacity, num_envs)
        self.num_envs = num_envs
        self.n_step = n_step
        self.gamma = gamma
        self.device = device
        self.n_agents = len(obs_dims)
        # column widths in row order: obs per agent, actions per agent, next obs per agent, rewards, flags
        self._widths = [*obs_dims, *action_dims, *obs_dims, self.n_agents, 1, 1]
        width = sum(self._widths)
        self._next_obs_start = sum(obs_dims) + sum(action_dims)
        self._rewards_start = width - self.n_agents - 2  # rewards, then terminated and truncated
        # Allocated at the first add or load: a behaviour-cloning run builds a buffer it never fills.
        self.storage = torch.zeros(0, width, dtype=torch.float32, device=device)
        self.pos = 0
        self.size = 0
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        steps = torch.arange(n_step, device=device)
        self._step_offsets = steps * num_envs  # row i + k * num_envs: the same env, k steps later
        self._step_discounts = gamma**steps  # the weight of the k-th step's reward in an n-step return

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: list[np.ndarray],
        actions: list[np.ndarray],
        rewards: np.ndarray,
        next_obs: list[np.ndarray],
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """Add one step of the K envs: per-agent arrays [K, ...], rewards [K, n_agents], flags [K]."""
        flags = np.stack([terminated, truncated], axis=1)
        rows = np.concatenate([*obs, *actions, *next_obs, rewards, flags], axis=1, dtype=np.float32)
        if rows.shape[0] != self.num_envs:
            raise ValueError(f"expected one step of {self.num_envs} envs, got {rows.shape[0]} rows")
        self._allocate()
        self.storage[self.pos : self.pos + self.num_envs] = torch.from_numpy(rows).to(self.device)
        self.pos = (self.pos + self.num_envs) % self.capacity
        self.size = min(self.size + self.num_envs, self.capacity)

    def sample(self, batch_size: int, reward_fn: RewardFn | None = None) -> Batch:
        """A batch of n-step transitions; `reward_fn`, when given, replaces the stored rewards.

        MAGAIL passes its discriminators here, so rewards always come from the current
        discriminators rather than from stale values stored when the transition was collected.
        """
        start = torch.randint(0, self.size, (batch_size,), device=self.device, generator=self.generator)
        if self.n_step == 1:
            rows = self.storage.index_select(0, start)
            discount = torch.full((batch_size,), self.gamma, device=self.device)
            if reward_fn is None:
                rewards = rows[:, self._rewards_start : -2]
            else:
                rewards = reward_fn(*self._obs_and_actions(rows))
            return self._batch(rows, rewards, discount)
        # Rows are gathered with index_select: on a CPU it is about twice as fast as indexing with a tensor.
        index = (start[:, None] + self._step_offsets) % self.capacity  # [B, n]: the same env's next steps
        if reward_fn is None:  # the stored rewards: of the n steps, only their columns and the flags
            step_rows = None
            rewards_and_flags = self.storage[:, self._rewards_start :].index_select(0, index.flatten())
        else:  # rewards from each step's obs and actions: the n steps' whole rows, gathered once for all uses
            step_rows = self.storage.index_select(0, index.flatten())
            step_rows = step_rows.view(batch_size, self.n_step, self.storage.shape[1])
            rewards_and_flags = step_rows[..., self._rewards_start :]
        rewards_and_flags = rewards_and_flags.reshape(batch_size, self.n_step, self.n_agents + 2)  # (B = 0 too)
        # A step counts if it has been written after the start row and no episode ended before it.
        rows_until_newest = (self.pos - start - 1) % self.capacity + 1
        written = self._step_offsets < rows_until_newest[:, None]
        ended = rewards_and_flags[..., -2:].sum(dim=-1) > 0
        ended_before = (ended.cumsum(dim=1) - ended.long()) > 0
        counts = written & ~ended_before  # [B, n]: True for the first m steps (m >= 1)
        m = counts.sum(dim=1)
        weights = self._step_discounts * counts  # [B, n]
        # obs and actions from the first step; next obs and flags from the m-th (rewards are replaced)
        if step_rows is None:
            step_rewards = rewards_and_flags[..., :-2]
            last = index.gather(1, (m - 1)[:, None]).squeeze(1)
            first_rows, last_rows = self.storage.index_select(0, start), self.storage.index_select(0, last)
        else:
            step_rewards = reward_fn(*self._obs_and_actions(step_rows.flatten(0, 1)))
            step_rewards = step_rewards.view(batch_size, self.n_step, self.n_agents)
            first_rows, last_rows = step_rows[:, 0], step_rows[torch.arange(batch_size, device=self.device), m - 1]
        rewards = (step_rewards * weights[..., None]).sum(dim=1)
        rows = torch.cat([first_rows[:, : self._next_obs_start], last_rows[:, self._next_obs_start :]], dim=1)
        return self._batch(rows, rewards, self.gamma ** m.float())

    def _allocate(self) -> None:
        if len(self.storage) < self.capacity:
            self.storage = torch.zeros(self.capacity, self.storage.shape[1], dtype=torch.float32, device=self.device)

    def _obs_and_actions(self, rows: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        n = self.n_agents
        columns = rows[:, : self._next_obs_start].split(self._widths[: 2 * n], dim=1)
        return list(columns[:n]), list(columns[n : 2 * n])

    def _batch(self, rows: torch.Tensor, rewards: torch.Tensor, discount: torch.Tensor) -> Batch:
        columns = list(rows.split(self._widths, dim=1))
        n = self.n_agents
        obs, actions, next_obs = columns[:n], columns[n : 2 * n], columns[2 * n : 3 * n]
        return Batch(obs, actions, rewards, next_obs, columns[-2].squeeze(1), discount)

    def state_dict(self) -> dict:
        # Only the filled rows, copied out: torch.save of a view would write the whole storage.
        return {
            "rows": self.storage[: self.size].clone().cpu(),
            "pos": self.pos,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        rows = state["rows"]
        if rows.shape[1] != self.storage.shape[1] or rows.shape[0] > self.capacity:
            raise ValueError(f"replay buffer rows of shape {tuple(rows.shape)} do not fit "
                             f"{(self.capacity, self.storage.shape[1])}")
        pos = state["pos"]
        if rows.shape[0] < self.capacity and pos != rows.shape[0] % self.capacity:
            # saved full by a smaller buffer (a run resumed with more episodes gets a larger one): oldest row first,
            # a whole number of env steps round, so row i + num_envs is still the same env's next step
            rows, pos = torch.roll(rows, -pos, dims=0), rows.shape[0]
        self._allocate()
        self.storage[: rows.shape[0]] = rows.to(self.device)
        self.size = rows.shape[0]
        self.pos = pos
        self.generator.set_state(state["generator"])
