"""Greedy evaluation of a joint policy, and GIFs of its episodes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from gymnasium import spaces

from envs import make_parallel_env, make_vector_env
from maddpg_gail.checkpoint import atomic_path
from maddpg_gail.policy import Policy


@dataclass
class EvaluationResult:
    agents: list[str]
    returns: np.ndarray  # [episodes, n_agents]: undiscounted environment return per episode and agent

    @property
    def mean_per_agent(self) -> dict[str, float]:
        return {a: float(m) for a, m in zip(self.agents, self.returns.mean(axis=0))}

    @property
    def mean_sum(self) -> float:
        return float(self.returns.sum(axis=1).mean())

    @property
    def std_sum(self) -> float:
        return float(self.returns.sum(axis=1).std())


class RandomPolicy:
    """Uniformly random actions, the zero of the normalized score; `evaluate` takes it like a `Policy`."""

    def __init__(self, scenario: str, env_kwargs: dict, seed: int):
        self.scenario = scenario
        self.env_kwargs = env_kwargs
        env = make_parallel_env(scenario, env_kwargs)
        self.agents = list(env.possible_agents)
        self.action_spaces = {a: env.action_space(a) for a in self.agents}
        env.close()
        self.rng = np.random.default_rng(seed)

    def act_batch(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        actions = {}
        for agent, space in self.action_spaces.items():
            k = len(observations[agent])
            if isinstance(space, spaces.Discrete):
                actions[agent] = self.rng.integers(space.n, size=k)
            else:
                actions[agent] = self.rng.uniform(space.low, space.high, size=(k, *space.shape)).astype(np.float32)
        return actions


def normalized_score(policy_return, expert_return: float, random_return: float):
    """(R_policy - R_random) / (R_expert - R_random): 0 for random actions, 1 for the expert."""
    return (np.asarray(policy_return, dtype=float) - random_return) / (expert_return - random_return)


def evaluate(
    policy: Policy, episodes: int, seed: int, env_backend: str = "batched", max_parallel: int = 50
) -> EvaluationResult:
    """Run `episodes` greedy episodes, `max_parallel` envs at a time, each env playing its own share."""
    num_envs = min(episodes, max_parallel)
    env = make_vector_env(policy.scenario, policy.env_kwargs, num_envs, env_backend)
    quota = np.full(num_envs, episodes // num_envs)
    quota[: episodes % num_envs] += 1
    finished: list[list[np.ndarray]] = [[] for _ in range(num_envs)]
    running = np.zeros((num_envs, len(policy.agents)))
    obs = env.reset(seed)
    while any(len(f) < q for f, q in zip(finished, quota)):
        step = env.step(policy.act_batch(obs))
        running += np.stack([step.rewards[a] for a in policy.agents], axis=1)
        for k in np.flatnonzero(step.terminated | step.truncated):
            if len(finished[k]) < quota[k]:
                finished[k].append(running[k].copy())
            running[k] = 0.0
        obs = step.observations
    env.close()
    return EvaluationResult(list(policy.agents), np.array([r for f in finished for r in f]))


def record_gif(policy: Policy, path: Path, seed: int, fps: int = 10) -> float:
    """Render one greedy episode on the plain mpe2 env into a GIF; returns its return summed over agents."""
    env = make_parallel_env(policy.scenario, policy.env_kwargs, render_mode="rgb_array")
    observations, _ = env.reset(seed=seed)
    frames = [env.render()]
    total = 0.0
    while env.agents:
        observations, rewards, *_ = env.step(policy.act(observations))
        total += sum(rewards[a] for a in policy.agents)
        frames.append(env.render())
    env.close()
    # Encoded in memory, then written by us: when imageio writes a file itself and the disk is full, the
    # half-closed writer it leaves retries at garbage collection and prints tracebacks after our one-line error.
    data = imageio.mimsave("<bytes>", frames, format="GIF", duration=1000 / fps, loop=0)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return total
