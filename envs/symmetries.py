"""The plane's eight symmetries (quarter turns and reflections) acting on observations and actions.

MPE worlds have no preferred direction: agents and landmarks spawn in squares centred on the
origin, and forces, damping and collisions treat x and y alike. Turning or reflecting a whole
episode gives an episode of the same scenario with the same rewards, and an expert's episode turned
is what the turned expert would do. Agents and landmarks keep their indices, so an expert's
convention of who goes where (agent 0 to landmark 2, say) survives, which permuting landmarks would
erase.

MAGAIL augments its discriminators' samples with them (`Config.discriminator_symmetries`), and
behaviour cloning its batches (`Config.bc_symmetries`): eight demonstrations for every one recorded.

simple_spread_v3 has more: its agents are interchangeable, and so are its landmarks. `Relabellings`
permutes both (`Config.relabel_entities`, on top of the plane's symmetries): 8 * N! * N! samples for
every one recorded (288 with N = 3). That is exact for an expert that treats them alike, as the
scripted one does, and erases the conventions of one that does not.

This module is the machinery; which scenario has which layouts is registered in envs/features.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from envs.batched import MOVE_ACTIONS, MOVE_DIRECTIONS

# (swap x and y, sign of the new x, sign of the new y): identity first
ELEMENTS = tuple((swap, sx, sy) for swap in (False, True) for sx in (1.0, -1.0) for sy in (1.0, -1.0))


@dataclass(frozen=True)
class AgentLayout:
    # the observation starts with vector_dims / 2 (x, y) pairs: velocities, positions, offsets; None: all of it
    vector_dims: int | None
    moves: bool  # its actions start with the five moves [no-op, -x, +x, -y, +y]; the rest (speech) stay

    def vectors_in(self, obs_dim: int) -> int:
        """How many of the observation's obs_dim columns are (x, y) pairs."""
        return obs_dim if self.vector_dims is None else self.vector_dims


def turn(vectors: torch.Tensor, element: tuple[bool, float, float]) -> torch.Tensor:
    """Apply one symmetry to [..., 2] vectors."""
    swap, sx, sy = element
    if swap:
        vectors = vectors.flip(-1)
    return vectors * torch.tensor([sx, sy], dtype=vectors.dtype)


class PlaneSymmetries:
    """Per agent, gather tables [8, dim]: observation column c of element g is `sign[g, c] * obs[source[g, c]]`,
    action column c is `actions[source[g, c]]` (one-hot or Box actions alike)."""

    def __init__(self, layouts: list[AgentLayout], obs_dims: list[int], action_dims: list[int],
                 device: torch.device | str = "cpu"):
        self.obs_source, self.obs_sign, self.action_source = [], [], []
        moves = torch.as_tensor(MOVE_DIRECTIONS, dtype=torch.float32)
        for layout, obs_dim, action_dim in zip(layouts, obs_dims, action_dims, strict=True):
            source = torch.arange(obs_dim).repeat(len(ELEMENTS), 1)
            sign = torch.ones(len(ELEMENTS), obs_dim)
            actions = torch.arange(action_dim).repeat(len(ELEMENTS), 1)
            vector_dims = layout.vectors_in(obs_dim)
            x, y = torch.arange(vector_dims)[0::2], torch.arange(vector_dims)[1::2]
            for g, element in enumerate(ELEMENTS):
                swap, sx, sy = element
                source[g, x], source[g, y] = (y, x) if swap else (x, y)
                sign[g, x], sign[g, y] = sx, sy
                if layout.moves:  # column k of the turned actions: the move whose direction, turned, is move k's
                    actions[g, :MOVE_ACTIONS] = (turn(moves, element)[:, None] == moves).all(-1).float().argmax(0)
            self.obs_source.append(source.to(device))
            self.obs_sign.append(sign.to(device))
            self.action_source.append(actions.to(device))

    def apply(self, element: torch.Tensor, obs: list[torch.Tensor], actions: list[torch.Tensor]
              ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample b of every agent turned by element[b] (indices into ELEMENTS, [B])."""
        turned_obs = [o.gather(1, source[element]) * sign[element]
                      for o, source, sign in zip(obs, self.obs_source, self.obs_sign)]
        turned_actions = [a.gather(1, source[element]) for a, source in zip(actions, self.action_source)]
        return turned_obs, turned_actions

    def augment(self, obs: list[torch.Tensor], actions: list[torch.Tensor], generator: torch.Generator
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each sample turned by a random symmetry, the same one for all agents (a joint sample stays one world)."""
        element = torch.randint(0, len(ELEMENTS), (obs[0].shape[0],), device=obs[0].device, generator=generator)
        return self.apply(element, obs, actions)


class EntityLayout(Protocol):
    """Observations of N agents and N landmarks (as `envs.spread.SpreadLayout`): 4 columns of the agent itself,
    then N landmark offsets from `landmarks_start`, the N - 1 others' offsets from `others_start` and their
    speech from `speech_start`, (x, y) each, the others in index order skipping the observer."""

    n: int
    obs_dim: int
    landmarks_start: int
    others_start: int
    speech_start: int


class Relabellings:
    """A world of N agents and N landmarks relabelled (simple_spread_v3's, envs/features.py): a sample's new
    landmark k is its old landmark landmark_order[k], its new agent i the old agent agent_order[i], whose
    observation lists the others (and their speech) in the new order. Rewards stay with their agents:
    relabelled worlds step alike."""

    def __init__(self, layout: EntityLayout, device: torch.device | str = "cpu"):
        self.layout = layout
        self.n = n = layout.n
        # agent i's observation lists the others in index order: others[i, t] is the agent in its slot t
        self.others = torch.tensor([[j for j in range(n) if j != i] for i in range(n)], device=device)
        self.device = device

    def apply(self, landmark_order: torch.Tensor, agent_order: torch.Tensor, obs: list[torch.Tensor],
              actions: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample b relabelled by the orders landmark_order[b] and agent_order[b] (permutations of range(N), [B, N])."""
        n, batch, layout = self.n, landmark_order.shape[0], self.layout
        # [B, new agent, landmark slot]
        landmark_column = layout.landmarks_start + 2 * landmark_order[:, None, :].expand(batch, n, n)
        # the new agent i is the old agent_order[i], who sees the old agent_order[j] in its slot of that agent
        old_self = agent_order[:, :, None]
        old_other = agent_order[:, self.others]  # [B, new agent, others' slot]
        old_slot = old_other - (old_other > old_self).long()
        columns = torch.cat([
            torch.arange(4, device=self.device).expand(batch, n, 4),
            pairs(landmark_column),
            pairs(layout.others_start + 2 * old_slot),  # the other agents' positions
            pairs(layout.speech_start + 2 * old_slot),  # and their speech
        ], dim=2)
        joint_obs = torch.stack(obs, dim=1).gather(1, agent_order[..., None].expand(-1, -1, layout.obs_dim))
        joint_actions = torch.stack(actions, dim=1)
        joint_actions = joint_actions.gather(1, agent_order[..., None].expand(-1, -1, joint_actions.shape[2]))
        return list(joint_obs.gather(2, columns).unbind(1)), list(joint_actions.unbind(1))

    def augment(self, obs: list[torch.Tensor], actions: list[torch.Tensor], generator: torch.Generator
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each sample relabelled by random permutations of its landmarks and of its agents."""
        batch = obs[0].shape[0]
        orders = torch.rand(2, batch, self.n, device=obs[0].device, generator=generator).argsort(dim=2)
        return self.apply(orders[0], orders[1], obs, actions)


def pairs(start: torch.Tensor) -> torch.Tensor:
    """Columns [..., 2k] of k (x, y) pairs starting at `start` [..., k]."""
    return torch.stack([start, start + 1], dim=-1).flatten(-2)


class WorldSymmetries:
    """What a run augments samples with: the plane's symmetries, after `relabellings` where given."""

    def __init__(self, plane: PlaneSymmetries, relabellings: Relabellings | None):
        self.plane = plane
        self.relabellings = relabellings

    def augment(self, obs: list[torch.Tensor], actions: list[torch.Tensor], generator: torch.Generator
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.relabellings is not None:
            obs, actions = self.relabellings.augment(obs, actions, generator)
        return self.plane.augment(obs, actions, generator)
