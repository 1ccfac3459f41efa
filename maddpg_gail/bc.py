"""Behaviour cloning: the same actors, trained by supervised learning on expert demonstrations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from envs.symmetries import WorldSymmetries
from maddpg_gail.demonstrations import ExpertData
from maddpg_gail.networks import Actor, NonFiniteError


def bc_loss(actor: Actor, out: torch.Tensor, expert_actions: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the actor's raw output `out` (`actor(obs)`) to the expert's (one-hot) discrete action, or
    squared error of its action to the expert's Box action."""
    if actor.action.discrete:
        return F.cross_entropy(out, expert_actions.argmax(dim=-1))
    return F.mse_loss(torch.sigmoid(out), expert_actions)


def behaviour_cloning(
    actors: nn.ModuleList, expert: ExpertData, epochs: int, batch_size: int, lr: float,
    symmetries: WorldSymmetries | None = None,
) -> list[float]:
    """Fit every actor to its agent's expert actions; returns the mean loss of each epoch (summed over agents).

    With `symmetries`, every batch is turned by random symmetries of the world (rotations and reflections
    of the plane, and relabellings where they include them).
    """
    optimizer = torch.optim.Adam(actors.parameters(), lr=lr, fused=True)  # one kernel, as the learner's
    epoch_losses = []
    for epoch in range(1, epochs + 1):
        losses = []
        for obs, actions in expert.epoch(batch_size):
            if symmetries is not None:
                obs, actions = symmetries.augment(obs, actions, expert.generator)
            loss = torch.stack([bc_loss(actor, actor(o), a) for actor, o, a in zip(actors, obs, actions)]).sum()
            value = loss.item()
            if not math.isfinite(value):  # before the step: the weights stay as they were
                raise NonFiniteError(f"behaviour-cloning loss is {value} at epoch {epoch}, batch {len(losses) + 1}; "
                                     f"cloning stopped, nothing saved (are the demonstrations' values huge?)")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(value)
        epoch_losses.append(sum(losses) / len(losses))
    return epoch_losses
