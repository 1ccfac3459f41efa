"""Where simple_spread_v3's observations keep what: one place for the scripted expert, the plane symmetries,
the relabellings and the actors' distance inputs (registered in envs/features.py). The batched backend's
`SimpleSpread.observations` builds the same layout, as mpe2 does; tests/test_spread_layout.py checks them."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from envs.scenarios import check_full_observations

SCENARIO = "simple_spread_v3"


@dataclass(frozen=True)
class SpreadLayout:
    """Agent i's observation with N agents: [own velocity, own position, N landmark offsets, N - 1 other
    agents' offsets, their speech], (x, y) each, the others in index order skipping i. Offsets are
    positions relative to agent i. The methods take arrays or tensors [..., obs_dim]."""

    n: int

    @classmethod
    def of(cls, env_kwargs: dict[str, Any]) -> SpreadLayout:
        """The layout of simple_spread_v3 built with these keyword arguments (mpe2's default: 3 agents)."""
        return cls(env_kwargs.get("N", 3))

    @property
    def obs_dim(self) -> int:
        return 6 * self.n

    @property
    def landmarks_start(self) -> int:
        return 4

    @property
    def others_start(self) -> int:
        return 4 + 2 * self.n

    @property
    def speech_start(self) -> int:
        return 2 + 4 * self.n

    def landmark_offsets(self, obs):
        """[..., N, 2]"""
        return obs[..., self.landmarks_start : self.others_start].reshape(*obs.shape[:-1], self.n, 2)

    def other_offsets(self, obs):
        """[..., N - 1, 2]"""
        return obs[..., self.others_start : self.speech_start].reshape(*obs.shape[:-1], self.n - 1, 2)

    def distances(self, obs: torch.Tensor) -> torch.Tensor:
        """[..., N * N]: the distance from every agent, the observer first and then the others in its
        observation's order, to every landmark in order."""
        # every (agent, landmark) offset is a difference of observation columns: one product with a fixed matrix,
        # 3x faster than slicing and concatenating (the actors call this at every step and update)
        offsets = obs @ _pair_offsets_matrix(self, obs.dtype, obs.device)
        # sqrt(x^2 + y^2) over the interleaved columns: 3x faster than vector_norm's reduction over pairs
        squares = offsets * offsets
        return (squares[..., 0::2] + squares[..., 1::2]).sqrt()

    def pair_offsets_matrix(self) -> torch.Tensor:
        """[obs_dim, N * N * 2]: an observation times it gives each landmark's offset from each agent, (x, y), in
        `distances`' order: the landmark's offset from the observer, less the agent's (zero for the observer)."""
        matrix = torch.zeros(self.obs_dim, self.n, self.n, 2)
        xy = torch.eye(2)
        for landmark in range(self.n):
            column = self.landmarks_start + 2 * landmark
            matrix[column : column + 2, :, landmark] += xy[:, None]
            for other in range(1, self.n):
                row = self.others_start + 2 * (other - 1)
                matrix[row : row + 2, other, landmark] -= xy
        return matrix.flatten(1)


@functools.lru_cache(maxsize=None)
def _pair_offsets_matrix(layout: SpreadLayout, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return layout.pair_offsets_matrix().to(device, dtype)


def spread_layout(scenario: str, env_kwargs: dict[str, Any], obs_dims: list[int], what: str) -> SpreadLayout:
    """The layout of `scenario`'s observations; where it has none, a ValueError that starts with `what`, the feature
    that needs it."""
    if scenario != SCENARIO:
        raise ValueError(f"{what}: defined for {SCENARIO}, not {scenario}")
    check_full_observations(what, scenario, env_kwargs)
    layout = SpreadLayout.of(env_kwargs)
    if obs_dims != [layout.obs_dim] * layout.n:
        raise ValueError(f"{what}: {scenario}'s observations {obs_dims} are not the layout expected")
    return layout


def spread_layout_defined(scenario: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether `spread_layout` knows this scenario with these options (it also checks the observations' sizes, which
    follow from them)."""
    try:
        check_full_observations("", scenario, env_kwargs)
    except ValueError:
        return False
    return scenario == SCENARIO


class AgentLandmarkDistances(nn.Module):
    """An actor's inputs: its observation, then the distance from every agent to every landmark in it.

    Every row's features are the same whatever batch it comes in, to the bit (a test): each offset is a difference
    of two observation columns, exact in any order of the product's sum, and each norm is of its own two values.

    Which landmark a simple_spread_v3 agent should take depends on all of these distances at once (who
    is nearest to what); a small MLP learns that poorly from the offsets alone (README, imitation).
    Computed from the agent's own observation: the actor stays decentralized.
    """

    def __init__(self, layout: SpreadLayout):
        super().__init__()
        self.layout = layout
        self.extra_dims = layout.n**2

    @staticmethod
    def defined_for(layout: SpreadLayout) -> bool:
        return True

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(obs.device.type, enabled=False):  # distances in float32 under mixed precision too
            return torch.cat([obs, self.layout.distances(obs)], dim=-1)


# The assignment tries every pairing of agents with landmarks: 6 for spread's 3 agents, 120 for 5, 720 for 6.
MAX_ASSIGNMENT_AGENTS = 5


class AgentLandmarkAssignment(AgentLandmarkDistances):
    """An actor's inputs: its observation, the agent-landmark distances, then the landmark this agent takes when
    the agents share the landmarks out one each by least total distance: its offset (x, y) and its index one-hot.

    Agents that imitate a team must agree on who covers which landmark, each from its own observation. Clones
    with the distances alone agree poorly: at the end of 23% of their episodes two agents share a landmark, which
    no expert does (docs/imitation.md). The least-total-distance pairing is the one every agent works out alike
    from its own observation (all see the same distances, in their own order); with it as an input, clones of
    three kinds of expert, an assignment planner among them but also a MADDPG team, went from 0.76 to 0.95-0.98
    of their expert's score. Ties between pairings (measure zero) are broken by each agent's own order.
    """

    def __init__(self, layout: SpreadLayout):
        if not self.defined_for(layout):
            raise ValueError(f"assignment: defined for up to {MAX_ASSIGNMENT_AGENTS} agents, not {layout.n}")
        super().__init__(layout)
        n = layout.n
        pairings = torch.tensor(list(itertools.permutations(range(n))))  # [P, N]: agent k's landmark
        # not in state dicts, as below: they follow from N. The observer comes first in its own observation.
        self.register_buffer("observer_landmark", pairings[:, 0].clone(), persistent=False)
        # [N * N, P]: 1 where pairing p pairs agent k with landmark l (column k * N + l of `distances`, agent-major),
        # so that distances times it is every pairing's total distance: one product, 4x faster than gathering them;
        # float64, as the totals are (forward)
        incidence = torch.zeros(n * n, len(pairings), dtype=torch.float64)
        incidence[torch.arange(n) * n + pairings, torch.arange(len(pairings))[:, None]] = 1.0
        self.register_buffer("pairing_incidence", incidence, persistent=False)
        self.extra_dims = n**2 + 2 + n

    @staticmethod
    def defined_for(layout: SpreadLayout) -> bool:
        return layout.n <= MAX_ASSIGNMENT_AGENTS

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.autocast(obs.device.type, enabled=False):  # in float32 under mixed precision too
            distances = self.layout.distances(obs)
            # each total in float64, where a sum of N float32 distances is exact: the same pairing whatever the
            # order of the sum, so for every batch size (greedy evaluation computes these per batch, `Policy`)
            totals = distances.double() @ self.pairing_incidence.double()  # [..., P]; .double(): no copy if float64
            mine = self.observer_landmark[totals.argmin(dim=-1)]
            offsets = self.layout.landmark_offsets(obs)  # [..., N, 2]
            target = offsets.gather(-2, mine[..., None, None].expand(*mine.shape, 1, 2)).squeeze(-2)
            one_hot = F.one_hot(mine, self.layout.n).to(obs.dtype)
            return torch.cat([obs, distances, target, one_hot], dim=-1)
