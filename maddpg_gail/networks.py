"""Actor and critic networks, and how an actor's output becomes an action."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn


@dataclass(frozen=True)
class ActionSpec:
    """An agent's action space as the networks see it: `dim` floats per action.

    Discrete(n) actions are one-hot vectors of size n; Box(0, 1, (d,)) actions are d floats.
    """

    discrete: bool
    dim: int

    @classmethod
    def from_space(cls, space: spaces.Space) -> ActionSpec:
        if isinstance(space, spaces.Discrete):
            if space.start != 0:
                raise ValueError(f"Discrete action spaces must start at 0, got start={space.start}")
            return cls(discrete=True, dim=int(space.n))
        if isinstance(space, spaces.Box) and len(space.shape) == 1:
            if not (np.all(space.low == 0.0) and np.all(space.high == 1.0)):
                raise ValueError(f"Box action spaces must be [0, 1] as in mpe2, got {space}")
            return cls(discrete=False, dim=int(space.shape[0]))
        raise ValueError(f"unsupported action space {space}: expected Discrete(n) or a 1-D Box(0, 1)")

    def to_env(self, actions: torch.Tensor) -> np.ndarray:
        """Network actions [K, dim] to what the env takes: int64 [K] or float32 [K, dim] in [0, 1]."""
        if self.discrete:
            return actions.argmax(dim=-1).cpu().numpy().astype(np.int64)
        return actions.clamp(0.0, 1.0).cpu().numpy().astype(np.float32)

    def from_env(self, actions: np.ndarray) -> torch.Tensor:
        """The inverse of `to_env`: env actions to network actions (one-hot for discrete)."""
        if self.discrete:
            return F.one_hot(torch.as_tensor(actions, dtype=torch.int64), self.dim).float()
        return torch.as_tensor(actions, dtype=torch.float32)


class NonFiniteError(ArithmeticError):
    """A NaN or inf in an observation, reward, action, loss or gradient: training stops before it is saved."""


def mlp(in_dim: int, hidden_sizes: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU()]
        in_dim = size
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def gumbel_softmax_straight_through(logits: torch.Tensor) -> torch.Tensor:
    """A one-hot sample in the forward pass whose gradient is that of the soft Gumbel-softmax."""
    return F.gumbel_softmax(logits, tau=1.0, hard=True)


def greedy_one_hot(logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)


class Actor(nn.Module):
    """Maps one agent's observation to its action; `forward` returns the raw network output
    (logits for discrete actions, pre-sigmoid values for continuous ones). `inputs`, where given, is a
    feature module (envs/features.py): observations [..., obs_dim] to [..., obs_dim + inputs.extra_dims],
    the MLP's input."""

    def __init__(self, obs_dim: int, action: ActionSpec, hidden_sizes: tuple[int, ...],
                 inputs: nn.Module | None = None):
        super().__init__()
        self.action = action
        self.inputs = inputs if inputs is not None else nn.Identity()
        self.net = mlp(obs_dim + (inputs.extra_dims if inputs is not None else 0), hidden_sizes, action.dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.inputs(obs))

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        out = self(obs)
        return greedy_one_hot(out) if self.action.discrete else torch.sigmoid(out)

    def explore(self, obs: torch.Tensor, noise_std: float) -> torch.Tensor:
        """Exploration actions: a Gumbel-softmax sample, or Gaussian noise clipped to [0, 1]."""
        out = self(obs)
        if self.action.discrete:
            return gumbel_softmax_straight_through(out)
        return (torch.sigmoid(out) + noise_std * torch.randn_like(out)).clamp(0.0, 1.0)

    def differentiable(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action, raw output) for the policy gradient: actions a critic can differentiate through."""
        out = self(obs)
        action = gumbel_softmax_straight_through(out) if self.action.discrete else torch.sigmoid(out)
        return action, out


class Critic(nn.Module):
    def __init__(self, in_dim: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.net = mlp(in_dim, hidden_sizes, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs).squeeze(-1)
