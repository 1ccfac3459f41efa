"""Whole episodes of an actor on given seeds: what evaluation and demonstration collection both play."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from envs.backends import make_vector_env
from envs.vector import Actions, Observations, VectorStep, env_seeds

MAX_PARALLEL = 50  # envs a rollout steps at once: wide enough for the batched backend, bounded in memory


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """The seeds of the episodes `evaluate(..., seed)` and `collect(..., seed)` play: episode i starts as mpe2's
    `parallel_env.reset(seed=episode_seeds(seed, n)[i])`. They are `numpy.random.SeedSequence(seed)
    .generate_state(n)`: well mixed, so nearby seeds share no episodes, and the first m of n are those of m."""
    return env_seeds(seed, episodes)


def rollout(actor: Any, scenario: str, env_kwargs: dict[str, Any], seeds: list[int], env_backend: str = "batched",
            max_parallel: int = MAX_PARALLEL) -> Iterator[tuple[Observations, Actions, VectorStep, np.ndarray]]:
    """Play one episode per seed, episode i from mpe2's `reset(seed=seeds[i])`, in waves of `max_parallel`
    envs; yields (observations, actions, step, episode index per env, -1 where that env's episode is over).

    An env whose episode ends before its wave's others steps on (auto-reset), unrecorded, as do the spare
    envs of a last, smaller wave (they replay its last episode).
    """
    width = min(len(seeds), max_parallel)
    env = make_vector_env(scenario, env_kwargs, width, env_backend)
    try:
        for start in range(0, len(seeds), width):
            wave = [int(s) for s in seeds[start : start + width]]
            episode = np.where(np.arange(width) < len(wave), start + np.arange(width), -1)
            obs = env.reset_each(wave + [wave[-1]] * (width - len(wave)))
            while (episode >= 0).any():
                actions = actor.act_batch(obs)
                step = env.step(actions)
                yield obs, actions, step, episode.copy()
                episode[step.terminated | step.truncated] = -1
                obs = step.observations
    finally:
        env.close()
