"""MADDPG (centralized critics) and independent DDPG, and their TD3 forms: one learner, two flags.

Every agent i has a decentralized actor mu_i(o_i) and a critic Q_i. With `critic="centralized"`
Q_i sees every agent's observation and action in the fixed agent order (MADDPG, Lowe et al.
2017); with `critic="independent"` it sees only (o_i, a_i) (DDPG per agent). Nothing else differs.

With `algorithm="matd3"` (TD3, Fujimoto et al. 2018; MATD3, Ackermann et al. 2019) every Q_i has twin
heads regressed on one target, the smaller of the two target heads at the target actors' smoothed
actions; the actors and all target networks move every `policy_delay`-th update only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from envs.features import actor_features
from maddpg_gail.buffer import Batch
from maddpg_gail.config import Config
from maddpg_gail.networks import (ActionSpec, Actor, AgentStacks, Critic, gumbel_rao, gumbel_softmax_straight_through,
                                  mixed_precision, shape_groups, stacked_optimizer_state)

# --- losses: pure functions of tensors -------------------------------------------------------


def td_target(
    rewards: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, discount: torch.Tensor | float
) -> torch.Tensor:
    """r + discount * Q'(s', a'), bootstrapping everywhere but at true terminal states.

    For an m-step return, `rewards` is the discounted sum of m rewards and `discount` is gamma ** m.
    A truncated episode (MPE's time limit) still bootstraps: `terminated` must not include it.
    """
    return rewards + discount * (1.0 - terminated) * next_q


def critic_loss(q_heads: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
    """The squared errors of every Q head (one, or TD3's twins) against the one target, summed over heads."""
    return torch.stack([F.mse_loss(q, target) for q in q_heads]).sum()


def actor_loss(q_of_policy: torch.Tensor, raw_output: torch.Tensor, regularization: float) -> torch.Tensor:
    """Deterministic policy gradient: maximise Q at the actor's action, keeping raw outputs small."""
    return -q_of_policy.mean() + regularization * raw_output.pow(2).mean()


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of Categorical(logits) over the last dimension, twice as fast as `Categorical(...).entropy()` at
    an action's few logits; logits that overflowed give NaN, which the trainer's finite check names."""
    log_p = logits.log_softmax(-1)
    return -(log_p.exp() * log_p).sum(-1)


@torch.no_grad()
def soft_update(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    """Polyak averaging of parameter lists: target <- (1 - tau) * target + tau * source."""
    torch._foreach_lerp_(target, source, tau)


@torch.no_grad()
def clip_grad_norms_(groups: list[list[torch.Tensor]], max_norm: float) -> torch.Tensor:
    """Each group of gradients (one agent's network's) scaled to norm at most `max_norm`, exactly as
    `nn.utils.clip_grad_norm_` of that group alone scales them, with one norm kernel for every group.
    Returns each group's norm before clipping [n_groups]."""
    norms = torch._foreach_norm([g for group in groups for g in group]) if any(groups) else []
    starts = [0]
    for group in groups:
        starts.append(starts[-1] + len(group))
    group_norms = torch.stack([torch.linalg.vector_norm(torch.stack(norms[a:b])) if b > a else torch.zeros(())
                               for a, b in zip(starts, starts[1:])])
    scales = (max_norm / (group_norms + 1e-6)).clamp(max=1.0)
    for group, scale in zip(groups, scales):
        if group:
            torch._foreach_mul_(group, scale)
    return group_norms


# --- the learner -------------------------------------------------------------------------------


class ActorLossTerm(Protocol):
    """An extra term of the actors' loss (e.g. `imitation.CloningTerm`) at observations of its own, `obs` (per
    agent): `weight` times the sum over agents of `term(actors, outputs)` joins the policy gradient's loss, where
    `outputs` are every actor's raw outputs at `obs`, differentiable; its unweighted values [n_agents] are logged
    per agent as `name`."""

    obs: list[torch.Tensor]
    name: str
    weight: float

    def __call__(self, actors: nn.ModuleList, outputs: list[torch.Tensor]) -> torch.Tensor: ...


def actor_inputs(config: Config, obs_dims: list[int]) -> nn.Module | None:
    """The feature module `config.actor_inputs` (one of ACTOR_INPUTS: Config checks it) adds to the actors'
    observations; ValueError where it does not fit the env."""
    return actor_features(config.actor_inputs, config.scenario, config.env_kwargs, obs_dims)


def make_actors(config: Config, obs_dims: list[int], action_specs: list[ActionSpec]) -> nn.ModuleList:
    """Every agent's actor as `config` shapes it; ValueError where its `actor_inputs` do not fit the env."""
    inputs = actor_inputs(config, obs_dims)
    estimator = discrete_estimator(config)
    return nn.ModuleList(Actor(o, s, tuple(config.hidden_sizes), inputs, estimator)
                         for o, s in zip(obs_dims, action_specs))


def discrete_estimator(config: Config) -> Callable[[torch.Tensor], torch.Tensor]:
    """`config.gradient_estimator`: logits to a one-hot action whose gradient the policy gradient follows."""
    if config.gradient_estimator == "gumbel_rao":
        return partial(gumbel_rao, samples=config.gumbel_rao_samples, temperature=config.gumbel_temperature)
    return partial(gumbel_softmax_straight_through, temperature=config.gumbel_temperature)


class MADDPG:
    def __init__(self, obs_dims: list[int], action_specs: list[ActionSpec], config: Config, device: torch.device):
        self.config = config
        self.device = device
        # the updates' hidden layers in bfloat16 (torch.autocast), their output layers and losses in float32
        self.bfloat16 = mixed_precision(config.precision, device)
        self.n_agents = len(obs_dims)
        self.centralized = config.critic == "centralized"
        self.td3 = config.algorithm == "matd3"
        # MADDPG moves the actors and targets at every update
        self.policy_delay = config.policy_delay if self.td3 else 1
        self.updates = 0  # critic updates so far: the actors follow every policy_delay-th
        self.action_specs = action_specs
        hidden = tuple(config.hidden_sizes)
        joint_dim = sum(obs_dims) + sum(spec.dim for spec in action_specs)
        critic_dims = [joint_dim if self.centralized else o + s.dim for o, s in zip(obs_dims, action_specs)]

        self.actors = make_actors(config, obs_dims, action_specs).to(device)
        self.critics = nn.ModuleList(Critic(d, hidden, twin=self.td3) for d in critic_dims).to(device)
        self.target_actors = make_actors(config, obs_dims, action_specs).to(device)
        self.target_critics = nn.ModuleList(Critic(d, hidden, twin=self.td3) for d in critic_dims).to(device)
        self.target_actors.load_state_dict(self.actors.state_dict())
        self.target_critics.load_state_dict(self.critics.state_dict())
        self.target_actors.requires_grad_(False)
        self.target_critics.requires_grad_(False)

        # Every role's networks evaluated as stacks of the agents that share a shape (all of them in most
        # scenarios, all critics when centralized): one batched matrix product per layer for the whole group.
        # The stacks share the modules' memory; the optimizers, the clipping and the soft updates work on them.
        actor_groups = shape_groups(list(zip(obs_dims, action_specs)), config.stack_agents)
        critic_groups = shape_groups(critic_dims, config.stack_agents)
        self.actor_stacks = AgentStacks([a.net for a in self.actors], actor_groups)
        self.target_actor_stacks = AgentStacks([a.net for a in self.target_actors], actor_groups)
        heads = ("net", "twin") if self.td3 else ("net",)
        self.critic_stacks = [AgentStacks([getattr(c, h) for c in self.critics], critic_groups) for h in heads]
        self.target_critic_stacks = [AgentStacks([getattr(c, h) for c in self.target_critics], critic_groups)
                                     for h in heads]
        # One optimizer per role: the agents' losses are summed, so one backward serves all agents.
        # fused: one kernel for all parameters (4x faster than the per-tensor loop on a CPU)
        self.actor_optimizer = torch.optim.Adam(self.actor_stacks.parameters(), lr=config.actor_lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.stacked_critic_parameters(), lr=config.critic_lr, fused=True)

    def stacked_critic_parameters(self, target: bool = False) -> list[torch.Tensor]:
        return [t for stacks in (self.target_critic_stacks if target else self.critic_stacks)
                for t in stacks.parameters()]

    def actor_outputs(self, obs: list[torch.Tensor], target: bool = False) -> list[torch.Tensor]:
        """Every actor's raw output (logits, or pre-sigmoid values) at its agent's observations [B, obs_dim]."""
        actors = self.target_actors if target else self.actors
        stacks = self.target_actor_stacks if target else self.actor_stacks
        return stacks(obs, actors[0].inputs)  # one feature module for every actor (make_actors)

    def critic_input(self, i: int, obs: list[torch.Tensor], actions: list[torch.Tensor]) -> torch.Tensor:
        if self.centralized:
            return torch.cat([*obs, *actions], dim=-1)
        return torch.cat([obs[i], actions[i]], dim=-1)

    def critic_inputs(self, obs: list[torch.Tensor], actions: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every critic's input at these observations and actions: centralized critics share one tensor."""
        if self.centralized:
            return [self.critic_input(0, obs, actions)] * self.n_agents
        return [self.critic_input(i, obs, actions) for i in range(self.n_agents)]

    def q_heads(self, inputs: list[torch.Tensor], target: bool = False) -> list[tuple[torch.Tensor, ...]]:
        """Each critic's Q heads [B] at its input: its twins under matd3, else its one head."""
        heads = [stacks(inputs) for stacks in (self.target_critic_stacks if target else self.critic_stacks)]
        return [tuple(head[i].squeeze(-1) for head in heads) for i in range(self.n_agents)]

    @torch.no_grad()
    def act(self, obs: list[torch.Tensor], noise_std: float | None) -> list[torch.Tensor]:
        """Each agent's action from its own observation: exploring when `noise_std` is given, greedy otherwise."""
        outputs = self.actor_outputs(obs)
        if noise_std is None:
            return [actor.greedy_action(out) for actor, out in zip(self.actors, outputs)]
        return [actor.exploring_action(out, noise_std) for actor, out in zip(self.actors, outputs)]

    @torch.no_grad()
    def td_targets(self, batch: Batch) -> list[torch.Tensor]:
        """Each critic's regression target; the next actions come from every agent's target actor (matd3: smoothed
        by clipped noise, the target Q the smaller of the twin target heads)."""
        cfg = self.config
        outputs = self.actor_outputs(batch.next_obs, target=True)
        if self.td3:
            next_actions = [actor.smoothed_action(out, cfg.target_noise, cfg.target_noise_clip)
                            for actor, out in zip(self.target_actors, outputs)]
        else:
            next_actions = [actor.greedy_action(out) for actor, out in zip(self.target_actors, outputs)]
        next_q = self.q_heads(self.critic_inputs(batch.next_obs, next_actions), target=True)
        return [td_target(batch.rewards[:, i], batch.terminated, torch.minimum(*q) if self.td3 else q[0],
                          batch.discount) for i, q in enumerate(next_q)]

    def update(
        self,
        batch: Batch,
        update_actors: bool = True,
        extra_actor_loss: ActorLossTerm | None = None,
        diagnostics: bool = True,
    ) -> dict[str, torch.Tensor]:
        """One gradient step for every critic, then every actor, then the target networks.

        `extra_actor_loss` adds its term to the actors' loss; `update_actors=False` trains the critics alone
        (a warm-up), ignoring it. Under matd3 the actors and all targets move at every `policy_delay`-th update
        only (TD3's rule: the target critics wait with the actors); between, the stats hold the critics' alone.
        `diagnostics=False` leaves out the stats that are only logged, not checked (the policy's entropy: 3% of an
        update); the trainer asks for them at the updates whose stats it logs.
        """
        # mixed precision where it is on: autocast runs the hidden layers' products in bfloat16 (StackedMLP keeps
        # the output layers in float32; the losses, the clipping and Adam are float32 under autocast too)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16):
            cfg = self.config
            self.updates += 1
            delayed_step = self.updates % self.policy_delay == 0
            targets = self.td_targets(batch)
            q_heads = self.q_heads(self.critic_inputs(batch.obs, batch.actions))
            critic_losses = torch.stack([critic_loss(q, y) for q, y in zip(q_heads, targets)])
            self.critic_optimizer.zero_grad()
            critic_losses.sum().backward()
            per_head = [stacks.agent_grads() for stacks in self.critic_stacks]  # each head's, per agent
            critic_grads = [[g for head in per_head for g in head[i]] for i in range(self.n_agents)]
            critic_grad_norms = clip_grad_norms_(critic_grads, cfg.grad_clip)
            self.critic_optimizer.step()
            if delayed_step:
                soft_update(self.stacked_critic_parameters(target=True), self.stacked_critic_parameters(), cfg.tau)
            stats = {
                "critic_loss": critic_losses.detach(),
                "q": torch.stack([q[0].mean() for q in q_heads]).detach(),  # the first head's, the one the actor climbs
                # before clipping: the trainer checks them (and the losses) for NaN/inf after every update
                "critic_grad_norm": critic_grad_norms,
            }
            if not (update_actors and delayed_step):
                return stats

            # the actors at the batch's observations and at the extra term's in one pass: one pass's fixed cost
            size = len(batch.obs[0])
            if extra_actor_loss is None:
                raw_outputs = self.actor_outputs(batch.obs)
            else:
                both = self.actor_outputs([torch.cat(pair) for pair in zip(batch.obs, extra_actor_loss.obs)])
                raw_outputs, extra_outputs = [out[:size] for out in both], [out[size:] for out in both]
            policy_actions = [actor.differentiable_action(out) for actor, out in zip(self.actors, raw_outputs)]
            inputs = []
            for i in range(self.n_agents):
                actions = list(batch.actions)
                actions[i] = policy_actions[i]  # the other agents keep the actions they took
                inputs.append(self.critic_input(i, batch.obs, actions))
            q_of_policy = [q[0] for q in self.q_heads(inputs)]
            actor_losses = torch.stack([actor_loss(q, raw, cfg.logits_regularization)
                                        for q, raw in zip(q_of_policy, raw_outputs)])
            total = actor_losses.sum()
            if extra_actor_loss is not None:
                extra_losses = extra_actor_loss(self.actors, extra_outputs)
                total = total + extra_actor_loss.weight * extra_losses.sum()
            self.actor_optimizer.zero_grad()
            # Gradients for the actors only: the critics' weight gradients would be thrown away.
            actor_params = self.actor_stacks.parameters()
            total.backward(inputs=actor_params)
            actor_grad_norms = clip_grad_norms_(self.actor_stacks.agent_grads(), cfg.grad_clip)
            self.actor_optimizer.step()
            soft_update(self.target_actor_stacks.parameters(), actor_params, cfg.tau)

            stats["actor_loss"] = actor_losses.detach()  # the policy-gradient part only
            stats["actor_grad_norm"] = actor_grad_norms
            if extra_actor_loss is not None:
                stats[extra_actor_loss.name] = extra_losses.detach()
            if diagnostics and all(spec.discrete for spec in self.action_specs):
                # How random the Gumbel-softmax exploration still is: it shrinks as the logits sharpen.
                stats["policy_entropy"] = torch.stack([categorical_entropy(raw.detach()).mean() for raw in raw_outputs])
            return stats

    def state_dict(self) -> dict:
        return {
            "actors": self.actors.state_dict(),
            "critics": self.critics.state_dict(),
            "target_actors": self.target_actors.state_dict(),
            "target_critics": self.target_critics.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actors.load_state_dict(state["actors"])
        self.critics.load_state_dict(state["critics"])
        self.target_actors.load_state_dict(state["target_actors"])
        self.target_critics.load_state_dict(state["target_critics"])
        actor_sources = self.actor_stacks.sources()
        critic_sources = [members for stacks in self.critic_stacks for members in stacks.sources()]
        self.actor_optimizer.load_state_dict(stacked_optimizer_state(state["actor_optimizer"], self.actors,
                                                                     actor_sources))
        self.critic_optimizer.load_state_dict(stacked_optimizer_state(state["critic_optimizer"], self.critics,
                                                                      critic_sources))
        self.updates = state.get("updates", 0)  # checkpoints from before matd3 have no count, nor need one

