"""Imitation as a component of training: MAGAIL's discriminators and behaviour cloning on demonstrations.

It plugs into an off-policy learner through two hooks that any reward-learning method could use (as
`imitation`'s AdversarialTrainer wraps any generator algorithm):

- `reward_fn`: the reward a sampled batch is trained on (the discriminators' under `--reward gail`; None
  keeps the environment's), applied by `ReplayBuffer.sample` when the batch is drawn;
- `actor_loss`: an extra term of the actors' loss (the cloning term under `--bc-weight`), which
  `MADDPG.update` adds to the policy gradient's.

`step` is the imitation step before each update (at every `discriminator_update_every`-th, the discriminators learn,
expert samples against the policy's);
`clone` is behaviour cloning itself (`--bc-init` and `main.py bc`). With no demonstrations it does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from envs.features import world_symmetries
from envs.symmetries import WorldSymmetries
from maddpg_gail.bc import bc_loss, behaviour_cloning
from maddpg_gail.buffer import ReplayBuffer
from maddpg_gail.config import Config
from maddpg_gail.demonstrations import ExpertData, file_digest, load_demonstrations
from maddpg_gail.discriminators import DiscriminatorTrainer, Discriminators
from maddpg_gail.networks import ActionSpec, mixed_precision

Samples = tuple[list[torch.Tensor], list[torch.Tensor]]  # (observations, actions) per agent


@dataclass
class CloningTerm:
    """The behaviour-cloning loss of each actor on one expert batch: an extra actor loss for `MADDPG.update`,
    which adds `weight` times its sum over agents and logs it per agent as `name`."""

    obs: list[torch.Tensor]
    actions: list[torch.Tensor]
    weight: float
    name: str = "bc_loss"

    def __call__(self, actors: nn.ModuleList, outputs: list[torch.Tensor]) -> torch.Tensor:
        """Each agent's cloning loss [n_agents]; `outputs` are every actor's raw outputs at `obs`."""
        return torch.stack([bc_loss(actor, out, a) for actor, out, a in zip(actors, outputs, self.actions)])


class Imitation:
    """The demonstrations of `config.demos`, MAGAIL's discriminators and the symmetries that augment them."""

    def __init__(self, config: Config, obs_dims: list[int], action_specs: list[ActionSpec], device: torch.device):
        cfg = self.config = config
        self.expert: ExpertData | None = None  # demonstrations, for MAGAIL and behaviour cloning
        self.gail: DiscriminatorTrainer | None = None
        self.symmetries: WorldSymmetries | None = None  # for discriminator_symmetries and bc_symmetries
        self.demos_digest = ""
        # the last discriminator step's statistics, logged at the updates between steps too
        self.discriminator_stats: dict[str, torch.Tensor] = {}
        action_dims = [s.dim for s in action_specs]
        if cfg.demos is not None:
            demos = load_demonstrations(Path(cfg.demos), cfg.scenario, cfg.parallel_env_kwargs())
            self.expert = ExpertData(demos, action_specs, device, seed=cfg.seed)
            self.demos_digest = file_digest(cfg.demos)
        if cfg.reward == "gail":
            discriminators = Discriminators(obs_dims, action_dims, tuple(cfg.hidden_sizes),
                                            centralized=cfg.discriminator == "centralized",
                                            stack=cfg.stack_agents).to(device)
            self.gail = DiscriminatorTrainer(
                discriminators, cfg.discriminator_lr, cfg.discriminator_reward,
                cfg.discriminator_label_smoothing, cfg.discriminator_grad_penalty,
                bfloat16_rewards=mixed_precision(cfg.precision, device),
            )
        if cfg.discriminator_symmetries or cfg.bc_symmetries:
            self.symmetries = world_symmetries(cfg.scenario, cfg.env_kwargs, obs_dims, action_dims,
                                               cfg.relabel_entities, device)

    # --- the two hooks ----------------------------------------------------------------------------

    @property
    def reward_fn(self) -> Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor] | None:
        """MAGAIL: the discriminators' reward, computed as a batch is sampled, replaces the environment's."""
        return self.gail.rewards if self.gail is not None else None

    def actor_loss(self, update_actors: bool) -> CloningTerm | None:
        """The cloning term on a fresh expert batch, where `bc_weight` asks for one and the actors update."""
        cfg = self.config
        if cfg.bc_weight > 0 and update_actors:
            return CloningTerm(*self.expert_sample(cfg.bc_batch_size, cfg.bc_symmetries), cfg.bc_weight)
        return None

    # --- the imitation step -----------------------------------------------------------------------

    def step(self, buffer: ReplayBuffer, act: Callable[[list[torch.Tensor]], list[torch.Tensor]], update: int
             ) -> dict[str, torch.Tensor]:
        """Before update number `update` (0 first): under MAGAIL, a discriminator step at every
        `discriminator_update_every`-th (`act` gives the policy's exploring actions); the last step's statistics
        per agent."""
        if self.gail is not None and update % self.config.discriminator_update_every == 0:
            self.discriminator_stats = self.update_discriminators(buffer, act)
        return self.discriminator_stats

    def update_discriminators(self, buffer: ReplayBuffer, act: Callable[[list[torch.Tensor]], list[torch.Tensor]]
                              ) -> dict[str, torch.Tensor]:
        """One discriminator step: expert transitions against the policy's, sampled from the replay buffer.

        With `discriminator_state_matched` f, a fraction f of the policy's samples pair expert observations
        with the actions the policy takes there instead: states that both sides share leave the
        discriminators only the actions to tell them apart by, rather than the demonstrations' states.
        With `discriminator_symmetries`, every sample of either side is turned by a random rotation or
        reflection of the plane (envs/symmetries.py): eight demonstrations for each one recorded; with
        `relabel_entities`, also by a random relabelling of the agents and of the landmarks.
        """
        cfg = self.config
        matched = round(cfg.batch_size * cfg.discriminator_state_matched)
        policy = buffer.sample(cfg.batch_size - matched)
        obs, actions = policy.obs, policy.actions
        if matched:
            expert_obs, _ = self.expert.sample(matched)
            own_actions = act(expert_obs)
            obs = [torch.cat(pair) for pair in zip(obs, expert_obs)]
            actions = [torch.cat(pair) for pair in zip(actions, own_actions)]
        expert = self.expert_sample(cfg.batch_size, cfg.discriminator_symmetries)
        if cfg.discriminator_symmetries:
            obs, actions = self.symmetries.augment(obs, actions, self.expert.generator)
        result = self.gail.update(expert, (obs, actions))
        return {
            "discriminator_loss": result.loss,
            "discriminator_expert_accuracy": result.expert_accuracy,
            "discriminator_policy_accuracy": result.policy_accuracy,
            "gail_reward": result.policy_reward,
        }

    def expert_sample(self, batch_size: int, turned: bool) -> Samples:
        """Expert (observations, actions); `turned`: each sample by a random symmetry (`self.symmetries`)."""
        sample = self.expert.sample(batch_size)
        return self.symmetries.augment(*sample, self.expert.generator) if turned else sample

    # --- behaviour cloning ------------------------------------------------------------------------

    def clone(self, actors: nn.ModuleList, outputs: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
              parameters: list[torch.Tensor] | None = None) -> list[float]:
        """Behaviour cloning of every actor on the demonstrations (through `outputs` and `parameters` where given:
        `behaviour_cloning`'s); the mean loss of each epoch."""
        cfg = self.config
        return behaviour_cloning(actors, self.expert, cfg.bc_epochs, cfg.bc_batch_size, cfg.bc_lr,
                                 self.symmetries if cfg.bc_symmetries else None, outputs, parameters)

    # --- checkpoints ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "discriminators": self.gail.state_dict() if self.gail is not None else {},
            "expert_sampler": self.expert.state_dict() if self.expert is not None else {},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.gail is not None:
            self.gail.load_state_dict(state["discriminators"])
        if self.expert is not None:
            self.expert.load_state_dict(state["expert_sampler"])
