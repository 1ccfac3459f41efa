"""mpe2 scenarios as numpy arrays over K envs: bit-identical to mpe2, without its per-env Python.

`BatchedVectorEnv` keeps the world of all K envs in arrays (positions [K, entities, 2], agents
first, then landmarks) and steps them with one numpy operation per term of mpe2's physics. Each
`Scenario` subclass is the vectorized twin of one mpe2 scenario module: its bodies, its
`reset_world` draws, its rewards and its observations.

Bit-identity comes from doing, element by element, the same IEEE operations in the same order as
mpe2 (`mpe2/_mpe_utils/core.py`, `simple_env.py` and the scenario files):

- norms are `sqrt(dx*dx + dy*dy)`, which is what `np.sqrt(np.sum(np.square(d)))` computes for
  two elements; `a - b` is exactly `-(b - a)`, so a distance has the same bits whichever way
  round the difference is taken, and the force on b is exactly minus the force on a;
- the forces on an agent are summed in mpe2's pair order: its own action force first, then
  contact forces in increasing order of the other entity;
- rewards follow the scenario's Python arithmetic (running sums start from 0, `local_ratio`
  mixing `global * (1 - r) + agent * r`) in float64, mpe2's own Python floats; observations are
  rounded to float32 only at the end, as mpe2 does;
- every env owns a `numpy.random.Generator`, seeded as mpe2 seeds its `np_random`, and a reset
  draws from it what `reset_world` draws, in the same order.

Scenario options this module does not implement raise `Unsupported`; `make_vector_env` then
falls back to the mpe2 backend (envs/backends.py).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import seeding

from envs.scenarios import mpe2_defaults, validate_env_kwargs
from envs.vector import Actions, Observations, VectorEnv, VectorStep, env_seeds

# mpe2's World and SimpleEnv constants.
DT = 0.1
DAMPING = 0.25
CONTACT_FORCE = 1e2
CONTACT_MARGIN = 1e-3
DEFAULT_SENSITIVITY = 5.0  # SimpleEnv._set_action: action force scale of agents without `accel`
MOVE_ACTIONS = 5  # no-op, -x, +x, -y, +y
MOVE_DIRECTIONS = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])

# Keyword arguments of every mpe2 env that change nothing the vector interface shows.
RENDER_ONLY_KWARGS = ("dynamic_rescaling", "benchmark_data")  # drawing, and `infos`, which VectorEnv drops


class Unsupported(Exception):
    """A scenario or option the batched backend does not implement; the message names it."""


@dataclass(frozen=True)
class AgentBody:
    name: str
    size: float = 0.05
    collide: bool = True
    movable: bool = True
    silent: bool = False
    accel: float | None = None
    max_speed: float | None = None


@dataclass(frozen=True)
class LandmarkBody:
    """Landmarks never move in the supported scenarios; only their size and collisions matter."""

    size: float = 0.05
    collide: bool = True


State = dict[str, np.ndarray]  # "pos" [K, E, 2], "vel" [K, A, 2], "comm" [K, A, dim_c], "steps" [K], scenario extras


def norm(d: np.ndarray) -> np.ndarray:
    """Length of 2-vectors on the last axis, with the bits of mpe2's `np.sqrt(np.sum(np.square(d)))`."""
    return np.sqrt(squared_norm(d))


def squared_norm(d: np.ndarray) -> np.ndarray:
    return np.square(d[..., 0]) + np.square(d[..., 1])


@cache
def other_agents(num_agents: int) -> np.ndarray:
    everyone = np.arange(num_agents)
    return np.stack([np.delete(everyone, i) for i in everyone])


class Geometry:
    """Relative positions in one world state, computed on first use and shared by observations and rewards."""

    def __init__(self, state: State, num_agents: int):
        self.state = state
        self.num_agents = num_agents
        self.agent_pos = state["pos"][:, :num_agents]  # [K, A, 2]
        self.landmark_pos = state["pos"][:, num_agents:]  # [K, L, 2]
        self.vel = state["vel"]  # [K, A, 2]
        self.comm = state["comm"]  # [K, A, dim_c]

    @cached_property
    def to_landmarks(self) -> np.ndarray:
        """[K, A, L, 2]: landmark l's position relative to agent a."""
        return self.landmark_pos[:, None] - self.agent_pos[:, :, None]

    @cached_property
    def landmark_dist(self) -> np.ndarray:
        """[K, A, L]"""
        return norm(self.to_landmarks)

    @cached_property
    def to_agents(self) -> np.ndarray:
        """[K, A, A, 2]: agent j's position relative to agent i at [:, i, j]."""
        return self.agent_pos[:, None] - self.agent_pos[:, :, None]

    @cached_property
    def agent_dist(self) -> np.ndarray:
        """[K, A, A]"""
        return norm(self.to_agents)

    @property
    def others(self) -> np.ndarray:
        """[A, A - 1]: for agent i, the other agents in world order (mpe2's `others` lists)."""
        return other_agents(self.num_agents)

    @cached_property
    def to_others(self) -> np.ndarray:
        """[K, A, A - 1, 2]: the other agents' positions relative to each agent, in world order."""
        return self.to_agents[:, np.arange(self.num_agents)[:, None], self.others]

    def goal_pos(self, key: str = "goal") -> np.ndarray:
        """[K, 2]: the position of the landmark whose index the scenario drew into `state[key]`."""
        return self.landmark_pos[np.arange(len(self.landmark_pos)), self.state[key]]


def flat(*parts: np.ndarray) -> np.ndarray:
    """Concatenate one agent's observation parts [K, ...] into [K, sum of their sizes], in the given order."""
    return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1)


def flat_per_agent(*parts: np.ndarray) -> list[np.ndarray]:
    """`flat` for all agents at once, from parts [K, A, ...] laid out alike for every agent."""
    K, A = parts[0].shape[:2]
    return list(np.concatenate([p.reshape(K, A, -1) for p in parts], axis=2).transpose(1, 0, 2))


def collisions(dist: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """mpe2's `is_collision`: centers closer than the sum of the radii."""
    return dist < np.add.outer(size_a, size_b)


class Scenario(abc.ABC):
    """One mpe2 scenario, vectorized over K envs."""

    dim_c: int
    agents: tuple[AgentBody, ...]
    landmarks: tuple[LandmarkBody, ...]
    local_ratio: float | None = None  # SimpleEnv's: None = no global reward

    @abc.abstractmethod
    def draw(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One env's `reset_world`: its draws from `rng` in mpe2's order, as {"pos": [E, 2], extras...}."""

    @abc.abstractmethod
    def observations(self, g: Geometry) -> list[np.ndarray]:
        """Each agent's observation, float64 [K, obs_dim] (cast to float32 by the caller, like mpe2)."""

    @abc.abstractmethod
    def rewards(self, g: Geometry) -> np.ndarray:
        """float64 [K, A]: each agent's `scenario.reward`."""

    def global_reward(self, g: Geometry) -> np.ndarray:
        """float64 [K]: `scenario.global_reward`, used when `local_ratio` is not None."""
        raise NotImplementedError

    def is_terminal(self, g: Geometry) -> np.ndarray:
        return np.zeros(len(g.agent_pos), dtype=bool)

    @cached_property
    def sizes(self) -> np.ndarray:
        return np.array([body.size for body in self.agents + self.landmarks])


def reject(scenario: str, **options: Any) -> None:
    """Raise `Unsupported` naming the options that are set (not None / False)."""
    given = {name: value for name, value in options.items() if value not in (None, False)}
    if given:
        settings = ", ".join(f"{name}={value!r}" for name, value in given.items())
        raise Unsupported(f"{scenario} with {settings}")


class Simple(Scenario):
    def __init__(self) -> None:
        self.dim_c = 0
        self.agents = (AgentBody("agent_0", collide=False, silent=True),)
        self.landmarks = (LandmarkBody(collide=False),)

    def draw(self, rng):
        return {"pos": rng.uniform(-1, +1, (2, 2))}

    def observations(self, g):
        return [flat(g.vel[:, 0], g.to_landmarks[:, 0])]

    def rewards(self, g):
        return -squared_norm(g.to_landmarks[:, :, 0])


class SimpleSpread(Scenario):
    CAPTURE_RADIUS = 0.1  # terminate_on_success: every landmark has an agent closer than this

    def __init__(
        self, N, local_ratio, curriculum, terminate_on_success, num_agent_neighbors, num_landmark_neighbors
    ) -> None:
        # Not implemented: the curriculum, whose stage is advanced on the mpe2 env object, and partial
        # observability (nearest neighbours only).
        reject("simple_spread_v3", curriculum=curriculum, num_agent_neighbors=num_agent_neighbors,
               num_landmark_neighbors=num_landmark_neighbors)
        if not 0.0 <= local_ratio <= 1.0:
            raise ValueError("local_ratio is a proportion. Must be between 0 and 1.")
        self.dim_c = 2
        self.local_ratio = local_ratio
        self.terminate_on_success = terminate_on_success
        self.agents = tuple(AgentBody(f"agent_{i}", size=0.15, silent=True) for i in range(N))
        self.landmarks = tuple(LandmarkBody(collide=False) for _ in range(N))

    def draw(self, rng):
        return {"pos": rng.uniform(-1, +1, (2 * len(self.agents), 2))}

    def observations(self, g):
        # [self_vel, self_pos, landmark_rel_positions, other_agent_rel_positions, communication]
        return flat_per_agent(g.vel, g.agent_pos, g.to_landmarks, g.to_others, g.comm[:, g.others])

    def rewards(self, g):
        hits = collisions(g.agent_dist, self.sizes[: len(self.agents)], self.sizes[: len(self.agents)])
        hits[:, np.arange(len(self.agents)), np.arange(len(self.agents))] = False  # an agent never hits itself
        return 0.0 - hits.sum(axis=2)  # `rew -= 1.0 * hit` per other agent; 0.0 - 0 keeps +0.0

    def global_reward(self, g):
        closest = g.landmark_dist.min(axis=1)  # [K, L]: each landmark's nearest agent
        reward = np.zeros(len(closest))
        for landmark in range(closest.shape[1]):
            reward = reward - closest[:, landmark]
        return reward

    def is_terminal(self, g):
        if not self.terminate_on_success:
            return super().is_terminal(g)
        return (g.landmark_dist.min(axis=1) < self.CAPTURE_RADIUS).all(axis=1)


class SimpleSpeakerListener(Scenario):
    LANDMARK_COLORS = np.array([[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]])

    def __init__(self) -> None:
        self.dim_c = 3
        self.agents = (
            AgentBody("speaker_0", size=0.075, collide=False, movable=False),
            AgentBody("listener_0", size=0.075, collide=False, silent=True),
        )
        self.landmarks = tuple(LandmarkBody(size=0.04, collide=False) for _ in range(3))

    def draw(self, rng):
        goal = rng.integers(len(self.landmarks))
        return {"goal": np.asarray(goal), "pos": rng.uniform(-1, +1, (5, 2))}

    def observations(self, g):
        speaker = self.LANDMARK_COLORS[g.state["goal"]]  # the goal's color
        listener = flat(g.vel[:, 1], g.to_landmarks[:, 1], g.comm[:, 0])
        return [speaker, listener]

    def rewards(self, g):
        # Shared: minus the squared distance from the listener to the goal.
        reward = -squared_norm(g.agent_pos[:, 1] - g.goal_pos())
        return np.stack([reward, reward], axis=1)


class SimpleTag(Scenario):
    def __init__(
        self,
        num_good,
        num_adversaries,
        num_obstacles,
        curriculum,
        terminate_on_success,
        num_agent_neighbors,
        num_landmark_neighbors,
    ) -> None:
        reject("simple_tag_v3", curriculum=curriculum, num_agent_neighbors=num_agent_neighbors,
               num_landmark_neighbors=num_landmark_neighbors)
        self.dim_c = 2
        self.terminate_on_success = terminate_on_success
        self.num_adversaries = num_adversaries
        adversaries = [
            AgentBody(f"adversary_{i}", size=0.075, silent=True, accel=3.0, max_speed=1.0)
            for i in range(num_adversaries)
        ]
        good = [AgentBody(f"agent_{i}", size=0.05, silent=True, accel=4.0, max_speed=1.3) for i in range(num_good)]
        self.agents = tuple(adversaries + good)
        self.landmarks = tuple(LandmarkBody(size=0.2) for _ in range(num_obstacles))

    def draw(self, rng):
        agents = rng.uniform(-1, +1, (len(self.agents), 2))
        obstacles = rng.uniform(-0.9, +0.9, (len(self.landmarks), 2))
        return {"pos": np.concatenate([agents, obstacles])}

    def observations(self, g):
        # [self_vel, self_pos, landmark_rel_positions, other_agent_rel_positions, other_good_agent_velocities]
        good = np.arange(self.num_adversaries, len(self.agents))
        return [
            flat(g.vel[:, i], g.agent_pos[:, i], g.to_landmarks[:, i], g.to_others[:, i], g.vel[:, good[good != i]])
            for i in range(len(self.agents))
        ]

    def caught(self, g: Geometry) -> np.ndarray:
        """bool [K, adversaries, good]: adversary a touches good agent j."""
        n = self.num_adversaries
        return collisions(g.agent_dist[:, :n, n:], self.sizes[:n], self.sizes[n : len(self.agents)])

    def rewards(self, g):
        n = self.num_adversaries
        caught = self.caught(g)
        # Adversaries share +10 per (adversary, good agent) contact.
        adversary = np.broadcast_to(10.0 * caught.sum(axis=(1, 2))[:, None], (len(caught), n))
        # Good agents lose 10 per adversary touching them, then pay for leaving the screen, x then y.
        good = 0.0 - 10.0 * caught.sum(axis=1)
        for p in range(2):
            good = good - self.bound(np.abs(g.agent_pos[:, n:, p]))
        return np.concatenate([adversary, good], axis=1)

    @staticmethod
    def bound(x: np.ndarray) -> np.ndarray:
        """mpe2's piecewise penalty for |coordinate| x: 0 inside 0.9, linear to 1, then exponential capped at 10."""
        with np.errstate(over="ignore"):
            outside = np.minimum(np.exp(2 * x - 2), 10)
        return np.where(x < 0.9, 0.0, np.where(x < 1.0, (x - 0.9) * 10, outside))

    def is_terminal(self, g):
        if not self.terminate_on_success:
            return super().is_terminal(g)
        return self.caught(g).any(axis=1).all(axis=1)  # every good agent touched by some adversary


class SimpleAdversary(Scenario):
    def __init__(self, N, num_agent_neighbors, num_landmark_neighbors) -> None:
        reject("simple_adversary_v3", num_agent_neighbors=num_agent_neighbors,
               num_landmark_neighbors=num_landmark_neighbors)
        self.dim_c = 2
        adversary = AgentBody("adversary_0", size=0.15, collide=False, silent=True)
        good = [AgentBody(f"agent_{i}", size=0.15, collide=False, silent=True) for i in range(N)]
        self.agents = (adversary, *good)
        self.landmarks = tuple(LandmarkBody(size=0.08, collide=False) for _ in range(N))

    def draw(self, rng):
        goal = rng.integers(len(self.landmarks))
        return {"goal": np.asarray(goal), "pos": rng.uniform(-1, +1, (len(self.agents) + len(self.landmarks), 2))}

    def observations(self, g):
        # good agents: [goal_rel_pos, landmark_rel_positions, other_agent_rel_positions]; the adversary lacks the goal.
        to_goal = g.goal_pos()[:, None] - g.agent_pos
        return [flat(g.to_landmarks[:, 0], g.to_others[:, 0])] + [
            flat(to_goal[:, i], g.to_landmarks[:, i], g.to_others[:, i]) for i in range(1, len(self.agents))
        ]

    def rewards(self, g):
        goal_dist = norm(g.agent_pos - g.goal_pos()[:, None])  # [K, A]
        adversary = -goal_dist[:, 0]
        # Good agents: minus the distance of the one nearest the goal, plus the adversary's distance from it.
        good = -goal_dist[:, 1:].min(axis=1) + goal_dist[:, 0]
        return np.stack([adversary] + [good] * (len(self.agents) - 1), axis=1)


class SimplePush(Scenario):
    def __init__(self) -> None:
        self.dim_c = 2
        self.agents = (AgentBody("adversary_0", silent=True), AgentBody("agent_0", silent=True))
        self.landmarks = (LandmarkBody(collide=False), LandmarkBody(collide=False))
        # Colors computed with mpe2's own arithmetic: base 0.1, +0.8 on channel i + 1 for landmark i;
        # the good agent's is 0.25 with +0.5 on the goal's channel.
        self.landmark_colors = np.full((2, 3), 0.1)
        self.agent_colors = np.full((2, 3), 0.25)
        for i in range(2):
            self.landmark_colors[i, i + 1] += 0.8
            self.agent_colors[i, i + 1] += 0.5

    def draw(self, rng):
        goal = rng.integers(len(self.landmarks))
        return {"goal": np.asarray(goal), "pos": rng.uniform(-1, +1, (4, 2))}

    def observations(self, g):
        colors = np.broadcast_to(self.landmark_colors, (len(g.vel), 2, 3))
        adversary = flat(g.vel[:, 0], g.to_landmarks[:, 0], g.to_others[:, 0])
        good = flat(
            g.vel[:, 1],
            g.goal_pos() - g.agent_pos[:, 1],
            self.agent_colors[g.state["goal"]],
            g.to_landmarks[:, 1],
            colors,
            g.to_others[:, 1],
        )
        return [adversary, good]

    def rewards(self, g):
        goal = g.goal_pos()
        good = norm(g.agent_pos[:, 1] - goal)
        # The adversary keeps the good agent from the goal while staying near it itself.
        return np.stack([good - norm(goal - g.agent_pos[:, 0]), -good], axis=1)


class SimpleReference(Scenario):
    LANDMARK_COLORS = np.array([[0.75, 0.25, 0.25], [0.25, 0.75, 0.25], [0.25, 0.25, 0.75]])

    def __init__(self, local_ratio) -> None:
        if not 0.0 <= local_ratio <= 1.0:
            raise ValueError("local_ratio is a proportion. Must be between 0 and 1.")
        self.dim_c = 10
        self.local_ratio = local_ratio
        self.agents = (AgentBody("agent_0", collide=False), AgentBody("agent_1", collide=False))
        self.landmarks = tuple(LandmarkBody(collide=False) for _ in range(3))

    def draw(self, rng):
        # Agent i's goal: the landmark the *other* agent should reach.
        goals = [rng.integers(len(self.landmarks)) for _ in self.agents]
        return {"goal": np.array(goals), "pos": rng.uniform(-1, +1, (5, 2))}

    def observations(self, g):
        goal_colors = self.LANDMARK_COLORS[g.state["goal"]]  # [K, A, 3]
        return [flat(g.vel[:, i], g.to_landmarks[:, i], goal_colors[:, i], g.comm[:, 1 - i]) for i in range(2)]

    def rewards(self, g):
        goal_pos = np.take_along_axis(g.landmark_pos, g.state["goal"][..., None], axis=1)  # [K, A, 2]
        return -norm(g.agent_pos[:, ::-1] - goal_pos)  # agent i's reward: the other agent's distance to i's goal

    def global_reward(self, g):
        rewards = self.rewards(g)
        return (0 + rewards[:, 0] + rewards[:, 1]) / 2  # Python's sum starts from 0, which turns -0.0 into +0.0


class SimpleCrypto(Scenario):
    def __init__(self) -> None:
        self.dim_c = 4
        self.agents = tuple(AgentBody(f"{name}_0", collide=False, movable=False) for name in ("eve", "bob", "alice"))
        self.landmarks = (LandmarkBody(collide=False), LandmarkBody(collide=False))
        self.landmark_colors = np.eye(self.dim_c)[: len(self.landmarks)]  # one-hot messages

    def draw(self, rng):
        # The message (goal) and the key are landmark colors; positions are drawn though nothing uses them.
        goal, key = rng.integers(len(self.landmarks)), rng.integers(len(self.landmarks))
        return {"goal": np.asarray(goal), "key": np.asarray(key), "pos": rng.uniform(-1, +1, (5, 2))}

    def observations(self, g):
        key = self.landmark_colors[g.state["key"]]
        alice = g.comm[:, 2]
        return [alice, flat(key, alice), flat(self.landmark_colors[g.state["goal"]], key)]

    def rewards(self, g):
        # Squared error of each listener's utterance against the message; an agent that says nothing (all
        # zeros) is left out. The sum over the 4 channels is numpy's, as in mpe2, for its summation order.
        error = np.sum(np.square(g.comm - self.landmark_colors[g.state["goal"]][:, None]), axis=2)  # [K, A]
        talks = (g.comm != 0).any(axis=2)
        eve = np.where(talks[:, 0], 0.0 - error[:, 0], 0.0)
        # Bob and Alice: Eve's error (a reward for them) plus minus Bob's error.
        good = np.where(talks[:, 0], 0.0 + error[:, 0], 0.0) + np.where(talks[:, 1], 0.0 - error[:, 1], 0.0)
        return np.stack([eve, good, good], axis=1)


# Scenario name -> its vectorized twin; the constructor's parameters are the mpe2 env's own keywords.
SCENARIO_CLASSES: dict[str, type[Scenario]] = {
    "simple_v3": Simple,
    "simple_spread_v3": SimpleSpread,
    "simple_speaker_listener_v4": SimpleSpeakerListener,
    "simple_tag_v3": SimpleTag,
    "simple_adversary_v3": SimpleAdversary,
    "simple_push_v3": SimplePush,
    "simple_reference_v3": SimpleReference,
    "simple_crypto_v3": SimpleCrypto,
}


class BatchedVectorEnv(VectorEnv):
    """K envs of one mpe2 scenario stepped as arrays, bit-identical to `Mpe2VectorEnv`.

    The exact-resume state is the world arrays plus each env's generator state.
    """

    def __init__(self, scenario: str, env_kwargs: dict[str, Any], num_envs: int):
        validate_env_kwargs(scenario, env_kwargs)
        if scenario not in SCENARIO_CLASSES:
            raise Unsupported(scenario)
        kwargs = {**mpe2_defaults(scenario), **env_kwargs}
        self.max_cycles = kwargs.pop("max_cycles")
        self.continuous = kwargs.pop("continuous_actions")
        for name in RENDER_ONLY_KWARGS:
            kwargs.pop(name)
        self.scenario = scenario
        self.world = SCENARIO_CLASSES[scenario](**kwargs)
        self.num_envs = num_envs
        world = self.world
        self.agents = [body.name for body in world.agents]
        self.num_agents = len(world.agents)

        # Static body properties as arrays over agents / entities.
        self.sizes = world.sizes
        self.movable = np.array([body.movable for body in world.agents])
        self.sensitivity = np.array([DEFAULT_SENSITIVITY if b.accel is None else b.accel for b in world.agents])
        self.max_speed = np.array([np.inf if b.max_speed is None else b.max_speed for b in world.agents])
        # The pairs (a, b), a < b, that push each other, in mpe2's loop order; pairs of landmarks are left
        # out since neither moves. a is always an agent, b an agent or a landmark.
        collide = [body.collide for body in world.agents + world.landmarks]
        self.contact_pairs = [
            (a, b) for a in range(self.num_agents) for b in range(a + 1, len(collide)) if collide[a] and collide[b]
        ]
        first, second = np.array(self.contact_pairs, dtype=np.int64).reshape(-1, 2).T
        self.contact_first, self.contact_second = first, second
        self.contact_dist = self.sizes[first] + self.sizes[second]

        self.action_spaces = {body.name: self._action_space(body) for body in world.agents}
        self.rngs: list[np.random.Generator] = []  # one per env, from reset()
        self.state = self._blank_state()
        self.observation_spaces = {
            name: spaces.Box(low=-np.float32(np.inf), high=np.float32(np.inf), shape=obs.shape[1:], dtype=np.float32)
            for name, obs in self._observe().items()
        }

    # --- spaces, state, reset -------------------------------------------------------------------

    def _action_space(self, body: AgentBody) -> spaces.Discrete | spaces.Box:
        # SimpleEnv's rule: movement (5) and/or communication (dim_c), summed if continuous, multiplied if discrete.
        if self.continuous:
            size = (MOVE_ACTIONS if body.movable else 0) + (0 if body.silent else self.world.dim_c)
            return spaces.Box(low=0, high=1, shape=(size,))
        size = (MOVE_ACTIONS if body.movable else 1) * (1 if body.silent else self.world.dim_c)
        return spaces.Discrete(size)

    def _blank_state(self) -> State:
        K, A = self.num_envs, self.num_agents
        drawn = self.world.draw(np.random.default_rng(0))  # only for the shapes of the scenario's arrays
        state = {key: np.zeros((K, *value.shape), dtype=value.dtype) for key, value in drawn.items()}
        state.update(
            vel=np.zeros((K, A, 2)), comm=np.zeros((K, A, self.world.dim_c)), steps=np.zeros(K, dtype=np.int64)
        )
        return state

    def _reset_envs(self, envs: np.ndarray) -> None:
        """`reset_world` for the given envs, each drawing from its own generator."""
        draws = [self.world.draw(self.rngs[k]) for k in envs]
        for key in draws[0]:
            self.state[key][envs] = np.stack([d[key] for d in draws])
        for key in ("vel", "comm", "steps"):
            self.state[key][envs] = 0

    def reset(self, seed: int) -> Observations:
        # mpe2's `reset(seed=s)` seeds np_random and draws a world; Mpe2VectorEnv's `reset()` then draws
        # the first episode.
        self.rngs = [seeding.np_random(s)[0] for s in env_seeds(seed, self.num_envs)]
        everyone = np.arange(self.num_envs)
        self._reset_envs(everyone)
        self._reset_envs(everyone)
        return self._observe()

    def reset_each(self, seeds: list[int]) -> Observations:
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        self.rngs = [seeding.np_random(int(s))[0] for s in seeds]
        self._reset_envs(np.arange(self.num_envs))
        return self._observe()

    # --- stepping -------------------------------------------------------------------------------

    def _decode(self, actions: Actions) -> tuple[np.ndarray, np.ndarray]:
        """SimpleEnv._set_action for all envs: action forces u [K, A, 2] and utterances c [K, A, dim_c]."""
        K, dim_c = self.num_envs, self.world.dim_c
        u = np.zeros((K, self.num_agents, 2))
        c = np.zeros((K, self.num_agents, dim_c))
        for i, name in enumerate(self.agents):
            body = self.world.agents[i]
            action = np.asarray(actions[name])
            if self.continuous:
                # ClipOutOfBoundsWrapper clips to Box(0, 1), keeping the dtype, and the differences are taken
                # in that dtype before landing in the float64 u (whose 0.0 start turns -0.0 into +0.0).
                action = np.clip(action, 0, 1)
                if body.movable:
                    u[:, i] = 0.0 + (action[:, [2, 4]] - action[:, [1, 3]])
                    action = action[:, MOVE_ACTIONS:]
                if not body.silent:
                    c[:, i] = action + 0.0  # + the zero communication noise, which also turns -0.0 into +0.0
            else:
                if np.any((action < 0) | (action >= self.action_spaces[name].n)):
                    raise ValueError(f"{name}: actions outside {self.action_spaces[name]}")
                if body.movable:
                    u[:, i] = MOVE_DIRECTIONS[action % MOVE_ACTIONS]
                    action = action // MOVE_ACTIONS
                if not body.silent:
                    c[:, i] = np.eye(dim_c)[action]
            u[:, i] *= self.sensitivity[i]
        return u, c

    def _contact_forces(self, force: np.ndarray) -> np.ndarray:
        """World.apply_environment_force: add soft contact forces to the agents' forces, in mpe2's order."""
        if not self.contact_pairs:
            return force
        pos = self.state["pos"]
        delta = pos[:, self.contact_first] - pos[:, self.contact_second]  # [K, pairs, 2]
        dist = norm(delta)
        penetration = np.logaddexp(0, -(dist - self.contact_dist) / CONTACT_MARGIN) * CONTACT_MARGIN
        push = CONTACT_FORCE * delta / dist[..., None] * penetration[..., None]  # on a; b gets minus it
        for p, (a, b) in enumerate(self.contact_pairs):
            force[:, a] += push[:, p]
            if b < self.num_agents:
                force[:, b] -= push[:, p]
        return force

    def _integrate(self, force: np.ndarray) -> None:
        """World.integrate_state for the movable agents (landmarks never move here)."""
        pos, vel = self.state["pos"][:, : self.num_agents], self.state["vel"]
        new_pos = pos + vel * DT
        new_vel = vel * (1 - DAMPING) + force * DT  # force / mass, with every body at mpe2's default mass 1.0
        if np.isfinite(self.max_speed).any():
            speed = norm(new_vel)
            with np.errstate(invalid="ignore", divide="ignore"):  # bodies at rest are not capped anyway
                capped = new_vel / speed[..., None] * self.max_speed[:, None]
            new_vel = np.where((speed > self.max_speed)[..., None], capped, new_vel)
        if not self.movable.all():
            new_pos = np.where(self.movable[:, None], new_pos, pos)
            new_vel = np.where(self.movable[:, None], new_vel, vel)
        self.state["pos"][:, : self.num_agents] = new_pos
        self.state["vel"] = new_vel

    def _rewards(self, g: Geometry) -> dict[str, np.ndarray]:
        rewards = self.world.rewards(g)
        ratio = self.world.local_ratio
        if ratio is not None:
            rewards = self.world.global_reward(g)[:, None] * (1 - ratio) + rewards * ratio
        return {name: rewards[:, i].astype(np.float64) for i, name in enumerate(self.agents)}

    def _observe(self, g: Geometry | None = None) -> Observations:
        if g is None:
            g = Geometry(self.state, self.num_agents)
        return {name: obs.astype(np.float32) for name, obs in zip(self.agents, self.world.observations(g))}

    def step(self, actions: Actions) -> VectorStep:
        if not self.rngs:
            raise RuntimeError("reset() the env before step()")
        u, c = self._decode(actions)
        force = self._contact_forces(u + 0.0)  # + the zero motor noise of apply_action_force
        self._integrate(force)
        self.state["comm"] = c  # silent agents keep zeros
        self.state["steps"] += 1

        g = Geometry(self.state, self.num_agents)
        rewards = self._rewards(g)
        truncated = self.state["steps"] >= self.max_cycles
        terminated = ~truncated & self.world.is_terminal(g)  # mpe2 checks the end of the episode first
        next_observations = self._observe(g)
        done = np.flatnonzero(terminated | truncated)
        if len(done) == 0:
            observations = {name: obs.copy() for name, obs in next_observations.items()}  # two arrays, as mpe2 gives
        else:
            self._reset_envs(done)
            observations = self._observe()
        return VectorStep(observations, next_observations, rewards, terminated, truncated)

    # --- exact resume ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The world arrays (as tensors) and each env's generator state: loadable with `weights_only=True`."""
        return {
            "backend": "batched",
            "arrays": {key: torch.from_numpy(value.copy()) for key, value in self.state.items()},
            "rngs": [rng.bit_generator.state for rng in self.rngs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> Observations:
        if state.get("backend") != "batched":
            raise ValueError("not a state of the batched env backend")
        arrays = {key: value.numpy().copy() for key, value in state["arrays"].items()}
        fits = arrays.keys() == self.state.keys() and len(state["rngs"]) == self.num_envs
        if not fits or any(arrays[key].shape != value.shape for key, value in self.state.items()):
            raise ValueError(f"the env state does not fit {self.num_envs} envs of {self.scenario}")
        self.state = arrays
        self.rngs = []
        for rng_state in state["rngs"]:
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = rng_state
            self.rngs.append(rng)
        return self._observe()
