"""K copies of a multi-agent env stepped together, with per-agent arrays of shape [K, ...].

`VectorEnv` is the interface the trainer sees; `Mpe2VectorEnv` is the reference backend: K plain
mpe2 PettingZoo parallel envs in this process (subprocess workers were measured slower on a
2-core machine). A faster backend only has to implement the same five methods; envs/backends.py
chooses one.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from envs.scenarios import make_parallel_env

Observations = dict[str, np.ndarray]  # agent -> float32 [K, obs_dim]
Actions = dict[str, np.ndarray]  # agent -> int64 [K] (Discrete) or float32 [K, act_dim] (Box)


class VectorStep(NamedTuple):
    """One step of K envs. Envs whose episode ended this step have already been reset."""

    observations: Observations  # what to act on next: the first observation of a new episode where one ended
    next_observations: Observations  # the true successor of the step's observations (the final one where an episode ended)
    rewards: dict[str, np.ndarray]  # agent -> float64 [K]: mpe2's rewards are Python floats
    terminated: np.ndarray  # bool [K]: the episode reached a terminal state (no bootstrapping)
    truncated: np.ndarray  # bool [K]: the episode was cut at max_cycles (bootstrapping still applies)


class VectorEnv(abc.ABC):
    num_envs: int
    agents: list[str]  # fixed order: the order of the critic's inputs
    observation_spaces: dict[str, spaces.Box]
    action_spaces: dict[str, spaces.Discrete | spaces.Box]

    @abc.abstractmethod
    def reset(self, seed: int) -> Observations:
        """Start every env from a seed; later episodes continue each env's own random stream."""

    @abc.abstractmethod
    def reset_each(self, seeds: list[int]) -> Observations:
        """Start env k exactly as mpe2's `parallel_env.reset(seed=seeds[k])` does (one seed per env)."""

    @abc.abstractmethod
    def step(self, actions: Actions) -> VectorStep:
        """Step all envs; an env whose episode ends is reset automatically."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly from here, loadable by `torch.load(weights_only=True)`."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> Observations:
        """Restore a `state_dict` and return the observations to act on next."""

    def close(self) -> None:
        pass


def env_seeds(seed: int, num_envs: int) -> list[int]:
    """Distinct, well-mixed seeds for K envs (seed + k would overlap between runs of nearby seeds)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(num_envs)]


def _plain(env_actions: dict[str, Any]) -> dict[str, Any]:
    """Actions as Python ints and float lists: checkpoints load with `torch.load(weights_only=True)`."""
    return {a: action if isinstance(action, int) else action.tolist() for a, action in env_actions.items()}


class Mpe2VectorEnv(VectorEnv):
    """K mpe2 parallel envs in one process.

    The exact-resume state of an env is the random-generator state just before its last reset
    plus the actions taken since: restoring replays them (at most `max_cycles` steps), which
    rebuilds any scenario's state without knowing its internals.
    """

    def __init__(self, scenario: str, env_kwargs: dict[str, Any], num_envs: int):
        self.scenario = scenario
        self.num_envs = num_envs
        self.envs = [make_parallel_env(scenario, env_kwargs) for _ in range(num_envs)]
        first = self.envs[0]
        self.agents = list(first.possible_agents)
        self.observation_spaces = {a: first.observation_space(a) for a in self.agents}
        self.action_spaces = {a: first.action_space(a) for a in self.agents}
        self._rng_before_reset: list[dict] = [{} for _ in range(num_envs)]
        self._actions_since_reset: list[list[dict[str, Any]]] = [[] for _ in range(num_envs)]

    def _reset_env(self, k: int, seed: int | None) -> dict[str, np.ndarray]:
        env = self.envs[k]
        if seed is not None:
            env.reset(seed=seed)  # seeds the env's generator; the episode is started again below
        self._rng_before_reset[k] = env.unwrapped.np_random.bit_generator.state
        self._actions_since_reset[k] = []
        observations, _ = env.reset()
        return observations

    def reset_each(self, seeds: list[int]) -> Observations:
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        per_env = []
        for k, seed in enumerate(seeds):
            # reset(seed=s) draws the episode from a generator seeded by s, whose state is recorded for resume
            self._rng_before_reset[k] = seeding.np_random(int(seed))[0].bit_generator.state
            self._actions_since_reset[k] = []
            per_env.append(self.envs[k].reset(seed=int(seed))[0])
        return self._stack(per_env)

    def _stack(self, per_env: list[dict[str, np.ndarray]]) -> Observations:
        return {a: np.stack([o[a] for o in per_env]).astype(np.float32, copy=False) for a in self.agents}

    def reset(self, seed: int) -> Observations:
        return self._stack([self._reset_env(k, s) for k, s in enumerate(env_seeds(seed, self.num_envs))])

    def _env_actions(self, actions: Actions, k: int) -> dict[str, Any]:
        env_actions = {}
        for agent in self.agents:
            action = actions[agent][k]
            env_actions[agent] = int(action) if isinstance(self.action_spaces[agent], spaces.Discrete) else action
        return env_actions

    def step(self, actions: Actions) -> VectorStep:
        K = self.num_envs
        observations, next_observations = [], []
        rewards = {a: np.zeros(K, dtype=np.float64) for a in self.agents}
        terminated = np.zeros(K, dtype=bool)
        truncated = np.zeros(K, dtype=bool)
        for k, env in enumerate(self.envs):
            env_actions = self._env_actions(actions, k)
            obs, rew, term, trunc, _ = env.step(env_actions)
            self._actions_since_reset[k].append(_plain(env_actions))
            for agent in self.agents:
                rewards[agent][k] = rew[agent]
            terminated[k] = any(term[a] for a in self.agents)
            truncated[k] = any(trunc[a] for a in self.agents) and not terminated[k]
            next_observations.append(obs)
            observations.append(self._reset_env(k, None) if terminated[k] or truncated[k] else obs)
        return VectorStep(self._stack(observations), self._stack(next_observations), rewards, terminated, truncated)

    def _from_plain(self, plain_actions: dict[str, Any]) -> dict[str, Any]:
        return {
            a: action if isinstance(action, int) else np.asarray(action, dtype=self.action_spaces[a].dtype)
            for a, action in plain_actions.items()
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng_before_reset": [dict(s) for s in self._rng_before_reset],
            "actions_since_reset": [list(a) for a in self._actions_since_reset],
        }

    def load_state_dict(self, state: dict[str, Any]) -> Observations:
        observations = []
        for k, env in enumerate(self.envs):
            env.unwrapped.np_random.bit_generator.state = state["rng_before_reset"][k]
            self._rng_before_reset[k] = state["rng_before_reset"][k]
            obs, _ = env.reset()
            self._actions_since_reset[k] = []
            for plain_actions in state["actions_since_reset"][k]:
                obs, *_ = env.step(self._from_plain(plain_actions))
                self._actions_since_reset[k].append(plain_actions)
            observations.append(obs)
        return self._stack(observations)

    def close(self) -> None:
        for env in self.envs:
            env.close()
