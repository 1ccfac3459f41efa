"""A circular replay buffer of joint transitions, stored as one flat tensor on the training device.

A row holds every agent's observation, action (one-hot for discrete), reward and next
observation, plus the `terminated` flag. Keeping a row in one tensor makes a sample one
gather instead of one per agent and field.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    obs: list[torch.Tensor]  # per agent [B, obs_dim]
    actions: list[torch.Tensor]  # per agent [B, action_dim]
    rewards: torch.Tensor  # [B, n_agents]
    next_obs: list[torch.Tensor]  # per agent [B, obs_dim]
    terminated: torch.Tensor  # [B], 1.0 where the next state is terminal (never for a truncation)


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dims: list[int], action_dims: list[int], device: torch.device, seed: int):
        self.capacity = capacity
        self.device = device
        self.n_agents = len(obs_dims)
        # column widths in row order: obs per agent, actions per agent, rewards, next obs per agent, terminated
        self._widths = [*obs_dims, *action_dims, self.n_agents, *obs_dims, 1]
        self.storage = torch.zeros(capacity, sum(self._widths), dtype=torch.float32, device=device)
        self.pos = 0
        self.size = 0
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: list[np.ndarray],
        actions: list[np.ndarray],
        rewards: np.ndarray,
        next_obs: list[np.ndarray],
        terminated: np.ndarray,
    ) -> None:
        """Add K transitions: per-agent arrays of shape [K, ...], rewards [K, n_agents], terminated [K]."""
        rows = np.concatenate([*obs, *actions, rewards, *next_obs, terminated[:, None]], axis=1, dtype=np.float32)
        rows = torch.from_numpy(rows).to(self.device)
        k = rows.shape[0]
        index = (self.pos + torch.arange(k, device=self.device)) % self.capacity
        self.storage[index] = rows
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        index = torch.randint(0, self.size, (batch_size,), device=self.device, generator=self.generator)
        columns = list(self.storage[index].split(self._widths, dim=1))
        n = self.n_agents
        obs, actions, rewards, next_obs = columns[:n], columns[n : 2 * n], columns[2 * n], columns[2 * n + 1 : 3 * n + 1]
        return Batch(obs, actions, rewards, next_obs, columns[-1].squeeze(1))

    def state_dict(self) -> dict:
        # Only the filled rows: a young run's checkpoint stays small.
        return {
            "rows": self.storage[: self.size].cpu(),
            "pos": self.pos,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        rows = state["rows"]
        if rows.shape[1] != self.storage.shape[1] or rows.shape[0] > self.capacity:
            raise ValueError(f"replay buffer rows of shape {tuple(rows.shape)} do not fit {tuple(self.storage.shape)}")
        self.storage[: rows.shape[0]] = rows.to(self.device)
        self.size = rows.shape[0]
        self.pos = state["pos"]
        self.generator.set_state(state["generator"])
