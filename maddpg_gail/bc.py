"""Behaviour cloning: the same actors, trained by supervised learning on expert demonstrations."""

from __future__ import annotations

import math
from collections.abc import Callable

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
    outputs: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
    parameters: list[torch.Tensor] | None = None,
) -> list[float]:
    """Fit every actor to its agent's expert actions; returns the mean loss of each epoch (summed over agents).

    With `symmetries`, every batch is turned by random symmetries of the world (rotations and reflections
    of the plane, and relabellings where they include them). `outputs(obs)`, every actor's raw output at
    per-agent observations, and `parameters`, the tensors it trains, default to the actors called one by one
    and their own parameters; the learner passes its stacked evaluation (`MADDPG.actor_outputs`) and the
    stacked leaves instead: the same losses and Adam steps, one batched pass for all agents.
    """
    if outputs is None:
        def outputs(obs: list[torch.Tensor]) -> list[torch.Tensor]:
            return [actor(o) for actor, o in zip(actors, obs)]
    optimizer = torch.optim.Adam(parameters if parameters is not None else actors.parameters(), lr=lr,
                                 fused=True)  # one kernel, as the learner's
    epoch_losses = []
    for epoch in range(1, epochs + 1):
        losses = []
        for obs, actions in expert.epoch(batch_size):
            if symmetries is not None:
                obs, actions = symmetries.augment(obs, actions, expert.generator)
            loss = torch.stack([bc_loss(actor, out, a) for actor, out, a in zip(actors, outputs(obs), actions)]).sum()
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
