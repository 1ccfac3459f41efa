"""Scripted experts: hand-written policies that make demonstrations without any training."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from scipy.optimize import linear_sum_assignment

from envs import env_spaces
from envs.batched import DAMPING, DEFAULT_SENSITIVITY, DT, MOVE_DIRECTIONS
from envs.spread import SpreadLayout

# Agents of simple_spread are 0.15 in radius and collide closer than 0.3. Parking two of them on landmarks
# nearer than that costs the team 1 per step (at the default local_ratio 0.5), more than the at most
# 1.5 * 0.3 of parking them apart; the margin above 0.3 absorbs the controller's error around its goal.
SPACING = 0.4

# Every combination of full force in x and y (diagonals included): what continuous actions add to discrete ones.
GRID_FORCES = DEFAULT_SENSITIVITY * np.array([[x, y] for x in (-1, 0, 1) for y in (-1, 0, 1)], dtype=float)


class ScriptedSpreadExpert:
    """simple_spread_v3 (any N, discrete or continuous actions) by assignment and a model of the physics.

    Each agent acts on its own observation only, `[self_vel, self_pos, landmark_rel_positions,
    other_agent_rel_positions, communication]`: from the positions relative to itself it assigns agents to
    landmarks with the least total distance (every agent finds the same assignment, as it sees the same
    layout), spaces the goals apart so that agents parked on close landmarks do not collide, and heads
    for its own goal with the action that mpe2's physics says brings it closest over the next steps.

    `getattr(mpe2, expert.scenario).parallel_env(**expert.env_kwargs)` is the env it plays, as for `Policy`.
    """

    scenario = "simple_spread_v3"

    def __init__(self, env_kwargs: dict[str, Any]):
        for key in ("num_agent_neighbors", "num_landmark_neighbors"):
            if env_kwargs.get(key) is not None:
                raise ValueError(f"the scripted expert needs full observations of {self.scenario}, not {key}")
        found = env_spaces(self.scenario, env_kwargs)
        self.env_kwargs = dict(env_kwargs)
        self.agents = found.agents
        self.layout = SpreadLayout(len(self.agents))
        self.continuous = isinstance(found.action_spaces[self.agents[0]], spaces.Box)

    def act_batch(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Observations [K, obs_dim] per agent to env actions [K] (int64) or [K, 5] (float32) per agent."""
        actions = {}
        for i, agent in enumerate(self.agents):
            velocity, landmarks, agents = self.parse(np.asarray(observations[agent], dtype=np.float64), i)
            goal = spread_goals(landmarks, agents)[:, i]
            if self.continuous:
                actions[agent] = box_action(best_force(velocity, goal))
            else:
                actions[agent] = best_move(velocity, goal)
        return actions

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, Any]:
        """One env's observation dict to the action dict `parallel_env.step` accepts."""
        batched = self.act_batch({a: np.asarray(observations[a])[None] for a in self.agents})
        return {a: int(v[0]) if v.ndim == 1 else v[0] for a, v in batched.items()}

    def parse(self, obs: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Agent i's observations [K, obs_dim] to its velocity [K, 2] and the positions relative to it of the
        landmarks [K, N, 2] and of every agent, itself included at row i [K, N, 2]."""
        others = self.layout.other_offsets(obs)  # the other agents in order, skipping i
        agents = np.concatenate([others[:, :i], np.zeros((len(obs), 1, 2)), others[:, i:]], axis=1)
        return obs[:, 0:2], self.layout.landmark_offsets(obs), agents


def spread_goals(landmarks: np.ndarray, agents: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Each agent's goal [K, N, 2]: its landmark in the assignment of least total distance, moved so that
    goals are at least SPACING apart."""
    cost = np.linalg.norm(agents[:, :, None] - landmarks[:, None], axis=-1)  # [K, agents, landmarks]
    goals = np.empty_like(agents)
    for k in range(len(cost)):
        rows, cols = linear_sum_assignment(cost[k])
        goals[k, rows] = landmarks[k, cols]
    n = goals.shape[1]
    for _ in range(iterations):  # push every pair too close apart, half the shortfall each
        delta = goals[:, :, None] - goals[:, None]  # [K, N, N, 2]
        dist = np.linalg.norm(delta, axis=-1)
        dist[:, np.arange(n), np.arange(n)] = np.inf
        shortfall = np.clip(SPACING - dist, 0.0, None)
        goals = goals + 0.5 * (shortfall[..., None] * delta / np.maximum(dist, 1e-9)[..., None]).sum(axis=2)
    return goals


# mpe2 integrates position with the old velocity, then damps the velocity and adds force * DT (mass 1):
# the action taken now moves the agent from the step after next on. Coasting from velocity v travels
# v * DT / DAMPING further: the stopping point.
def stopping_point(position: np.ndarray, velocity: np.ndarray, force: np.ndarray) -> np.ndarray:
    next_velocity = (1 - DAMPING) * velocity + DT * force
    return position + DT * velocity + DT / DAMPING * next_velocity


def follow_force(position: np.ndarray, velocity: np.ndarray, goal: np.ndarray, continuous: bool) -> np.ndarray:
    """The force that puts the stopping point nearest the goal: the policy assumed for the step after this one."""
    if continuous:  # solve stopping_point(...) == goal for the force, within each axis' limits
        unforced = stopping_point(position, velocity, 0.0)
        force = (goal - unforced) / (DT * DT / DAMPING)
        return np.clip(force, -DEFAULT_SENSITIVITY, DEFAULT_SENSITIVITY)
    moves = DEFAULT_SENSITIVITY * MOVE_DIRECTIONS
    reach = stopping_point(position[..., None, :], velocity[..., None, :], moves)
    return moves[np.linalg.norm(reach - goal[..., None, :], axis=-1).argmin(axis=-1)]


def lookahead_costs(velocity: np.ndarray, goal: np.ndarray, forces: np.ndarray, continuous: bool) -> np.ndarray:
    """Distance to the goal summed over the two steps an action moves the agent, the step after it following
    `follow_force`: costs [K, candidates] of candidate forces [K, candidates, 2], from the agent's position 0.

    Two steps: a longer lookahead scored worse, as the cautious follow policy then stands for too much.
    """
    velocity = np.broadcast_to(velocity[:, None], forces.shape)
    goal = np.broadcast_to(goal[:, None], forces.shape)
    position = DT * velocity  # where the agent is next step, whatever it does now
    velocity = (1 - DAMPING) * velocity + DT * forces
    cost = 0.0
    for _ in range(2):
        force = follow_force(position, velocity, goal, continuous)
        position, velocity = position + DT * velocity, (1 - DAMPING) * velocity + DT * force
        cost = cost + np.linalg.norm(position - goal, axis=-1)
    return cost


def best_move(velocity: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Discrete actions [K] (0 no-op, 1 -x, 2 +x, 3 -y, 4 +y) of least lookahead cost."""
    moves = np.broadcast_to(DEFAULT_SENSITIVITY * MOVE_DIRECTIONS, (len(velocity), *MOVE_DIRECTIONS.shape))
    return lookahead_costs(velocity, goal, moves, continuous=False).argmin(axis=-1).astype(np.int64)


def best_force(velocity: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """The force [K, 2] of least lookahead cost among full forces in every direction and the one that stops
    the agent on its goal (which is what holds it there once it arrives)."""
    stopping = follow_force(np.zeros_like(velocity), velocity, goal, continuous=True)
    candidates = np.concatenate([np.broadcast_to(GRID_FORCES, (len(velocity), *GRID_FORCES.shape)),
                                 stopping[:, None]], axis=1)
    best = lookahead_costs(velocity, goal, candidates, continuous=True).argmin(axis=-1)
    return candidates[np.arange(len(velocity)), best]


def box_action(force: np.ndarray) -> np.ndarray:
    """Forces [K, 2] to mpe2's Box(0, 1)^5 movement actions: u_x = a[2] - a[1], u_y = a[4] - a[3], times 5."""
    u = force / DEFAULT_SENSITIVITY
    action = np.zeros((len(u), 5), dtype=np.float32)
    action[:, [2, 4]] = np.clip(u, 0.0, 1.0)
    action[:, [1, 3]] = np.clip(-u, 0.0, 1.0)
    return action


EXPERTS = {"scripted": ScriptedSpreadExpert}


def make_expert(name: str, scenario: str, env_kwargs: dict[str, Any]) -> ScriptedSpreadExpert:
    """The named expert for this env; a ValueError says why it cannot play it."""
    if name not in EXPERTS:
        raise ValueError(f"unknown expert {name!r}; known: {', '.join(EXPERTS)}")
    expert = EXPERTS[name]
    if scenario != expert.scenario:
        raise ValueError(f"the {name} expert plays {expert.scenario} only, not {scenario}")
    return expert(env_kwargs)
