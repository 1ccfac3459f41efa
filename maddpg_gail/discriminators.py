"""MAGAIL's per-agent discriminators (Song et al. 2018) and the rewards they give.

Sign convention: a discriminator returns logits where **high means expert**
(`logits_expert_is_high`, as in the `imitation` library); D = sigmoid(logit) is the probability
that a sample came from the demonstrations. The policy is rewarded for looking like the expert.

`centralized=False` (decentralized, the default): D_i sees agent i's observation and action only.
`centralized=True`: every D_i sees all agents' observations and actions.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from maddpg_gail.config import DISCRIMINATOR_REWARDS
from maddpg_gail.networks import AgentStacks, mlp, shape_groups, stacked_optimizer_state

# The gradient penalty's points per update: the first of the batch's samples, which are a random draw already (the
# replay buffer's and the demonstrations' samples). Its double-backward pass cost as much as the rest of a
# discriminator update at batch 512; on 128 points the penalty's estimate is noisier but its mean the same.
GRADIENT_PENALTY_POINTS = 128


def discriminator_reward(logits_expert_is_high: torch.Tensor, form: str = "softplus") -> torch.Tensor:
    """The reward for a policy sample, from its discriminator logit.

    softplus: -log(1 - D) = softplus(logit), always positive (GAIL's usual choice; a survival bonus
              that is harmless in fixed-length MPE episodes);
    logit:    log D - log(1 - D) = logit (AIRL's form, unbiased in sign);
    log_d:    log D = -softplus(-logit), always negative.
    """
    if form == "softplus":
        return F.softplus(logits_expert_is_high)
    if form == "logit":
        return logits_expert_is_high
    if form == "log_d":
        return -F.softplus(-logits_expert_is_high)
    raise ValueError(f"unknown discriminator reward {form!r}; choose one of: {', '.join(DISCRIMINATOR_REWARDS)}")


def discriminator_loss(
    expert_logits: torch.Tensor, policy_logits: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Binary cross-entropy per agent [n_agents], expert samples labelled 1 and policy samples 0."""
    expert_labels = torch.full_like(expert_logits, 1.0 - label_smoothing)
    policy_labels = torch.full_like(policy_logits, label_smoothing)
    expert_loss = F.binary_cross_entropy_with_logits(expert_logits, expert_labels, reduction="none").mean(0)
    policy_loss = F.binary_cross_entropy_with_logits(policy_logits, policy_labels, reduction="none").mean(0)
    return expert_loss + policy_loss


class DiscriminatorStats(NamedTuple):
    """Per agent [n_agents]."""

    loss: torch.Tensor
    expert_accuracy: torch.Tensor  # fraction of expert samples with logit > 0
    policy_accuracy: torch.Tensor  # fraction of policy samples with logit < 0
    policy_reward: torch.Tensor  # mean reward the policy samples earn


class Discriminators(nn.Module):
    """One discriminator per agent; `forward` gives logits [B, n_agents], high for expert-like samples."""

    def __init__(self, obs_dims: list[int], action_dims: list[int], hidden_sizes: tuple[int, ...], centralized: bool,
                 stack: bool = True):
        super().__init__()
        self.centralized = centralized
        joint = sum(obs_dims) + sum(action_dims)
        in_dims = [joint if centralized else o + a for o, a in zip(obs_dims, action_dims)]
        self.nets = nn.ModuleList(mlp(d, hidden_sizes, 1) for d in in_dims)
        # evaluated as stacks of the agents whose discriminators share a shape (networks.AgentStacks), which
        # own the weights' memory: train `stacked_parameters()`; with `stack` False, one network at a time (as the
        # learner's --no-stack-agents: the same math)
        self.groups = shape_groups(in_dims, stack)
        self.stacks = AgentStacks(list(self.nets), self.groups)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self.stacks = AgentStacks(list(self.nets), self.groups)  # a move gives the modules new memory: stack it
        return self

    def stacked_parameters(self) -> list[torch.Tensor]:
        return self.stacks.parameters()

    def inputs(self, obs: list[torch.Tensor], actions: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each D_i's input: agent i's (o, a), or, centralized, every agent's (one tensor, which the stacks share
        without a copy)."""
        if self.centralized:
            return [torch.cat([*obs, *actions], dim=-1)] * len(self.nets)
        return [torch.cat([o, a], dim=-1) for o, a in zip(obs, actions)]

    def logits(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """[B, n_agents] logits of D_i at `inputs[i]`."""
        return torch.cat(self.stacks(inputs), dim=-1)

    def forward(self, obs: list[torch.Tensor], actions: list[torch.Tensor]) -> torch.Tensor:
        return self.logits(self.inputs(obs, actions))


class DiscriminatorTrainer:
    """Trains the discriminators on expert vs replay-buffer samples and turns them into rewards."""

    def __init__(self, discriminators: Discriminators, lr: float, reward_form: str, label_smoothing: float,
                 grad_penalty: float, bfloat16_rewards: bool = False):
        discriminator_reward(torch.zeros(1), reward_form)  # refuse an unknown form before training
        self.discriminators = discriminators
        # the rewards of every sampled batch (512 samples of n steps, at every update) in bfloat16 mixed precision, as
        # the learner's updates: a third of float32's cost a call at spread's shapes (docs/benchmarks.md); the
        # discriminators' own updates, whose gradient penalty differentiates twice, stay float32
        self.bfloat16_rewards = bfloat16_rewards
        self.optimizer = torch.optim.Adam(discriminators.stacked_parameters(), lr=lr, fused=True)  # as the learner's
        self.reward_form = reward_form
        self.label_smoothing = label_smoothing
        self.grad_penalty = grad_penalty

    @torch.no_grad()
    def rewards(self, obs: list[torch.Tensor], actions: list[torch.Tensor]) -> torch.Tensor:
        """[B, n_agents] rewards for (o, a) pairs: what replaces the environment reward (float32 either way)."""
        with torch.autocast(obs[0].device.type, dtype=torch.bfloat16, enabled=self.bfloat16_rewards):
            logits = self.discriminators(obs, actions)  # the output layer in float32 (StackedMLP)
        return discriminator_reward(logits, self.reward_form)

    def update(
        self,
        expert: tuple[list[torch.Tensor], list[torch.Tensor]],
        policy: tuple[list[torch.Tensor], list[torch.Tensor]],
    ) -> DiscriminatorStats:
        # both sides in one pass (each row's logit depends on that row alone): half the passes' fixed cost
        n = expert[0][0].shape[0]
        both = [[torch.cat(pair) for pair in zip(e, p)] for e, p in zip(expert, policy)]  # observations, actions
        expert_logits, policy_logits = self.discriminators(*both).split([n, len(both[0][0]) - n])
        loss = discriminator_loss(expert_logits, policy_logits, self.label_smoothing)
        if self.grad_penalty > 0:
            points = GRADIENT_PENALTY_POINTS
            loss = loss + self.grad_penalty * gradient_penalty(self.discriminators, first_rows(expert, points),
                                                               first_rows(policy, points))
        self.optimizer.zero_grad()
        loss.sum().backward()
        self.optimizer.step()
        policy_logits = policy_logits.detach()
        return DiscriminatorStats(
            loss.detach(),
            (expert_logits.detach() > 0).float().mean(0),
            (policy_logits < 0).float().mean(0),
            discriminator_reward(policy_logits, self.reward_form).mean(0),
        )

    def state_dict(self) -> dict:
        return {"discriminators": self.discriminators.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.discriminators.load_state_dict(state["discriminators"])
        self.optimizer.load_state_dict(stacked_optimizer_state(state["optimizer"], self.discriminators.nets,
                                                               self.discriminators.stacks.sources()))


def first_rows(samples: tuple[list[torch.Tensor], list[torch.Tensor]], n: int
               ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The first `n` samples of per-agent (observations, actions)."""
    obs, actions = samples
    return [o[:n] for o in obs], [a[:n] for a in actions]


def gradient_penalty(
    discriminators: Discriminators,
    expert: tuple[list[torch.Tensor], list[torch.Tensor]],
    policy: tuple[list[torch.Tensor], list[torch.Tensor]],
) -> torch.Tensor:
    """(||grad D_i(x)|| - 1)^2 per agent at points between expert and policy inputs (DAC, Kostrikov et al. 2019).

    It keeps the discriminators smooth, so their rewards stay informative once they separate the data.
    """
    expert_inputs, policy_inputs = discriminators.inputs(*expert), discriminators.inputs(*policy)
    alpha = torch.rand(expert_inputs[0].shape[0], 1, device=expert_inputs[0].device)
    mixed = [(alpha * e + (1 - alpha) * p).requires_grad_(True) for e, p in zip(expert_inputs, policy_inputs)]
    # D_i reads mixed[i] alone (centralized D_i's each their own copy of the joint input), so the gradient of the
    # sum of all logits with respect to mixed[i] is D_i's own: one double-backward pass for every agent
    grads = torch.autograd.grad(discriminators.logits(mixed).sum(), mixed, create_graph=True)
    return torch.stack([(g.norm(dim=-1) - 1).pow(2).mean() for g in grads])
