"""The one typed configuration of a run: every default lives here, and every run saves it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CRITICS = ("centralized", "independent")
REWARDS = ("env", "gail")
DISCRIMINATORS = ("decentralized", "centralized")
DISCRIMINATOR_REWARDS = ("softplus", "logit", "log_d")
DEVICES = ("auto", "cpu", "cuda")
ACTOR_INPUTS = ("observation", "distances")


def replay_capacity(buffer_size: int, num_envs: int) -> int:
    """The transitions a replay buffer of `buffer_size` keeps: whole steps of the `num_envs` envs, so
    that row i + num_envs is always the same env's next step."""
    return max(num_envs, buffer_size - buffer_size % num_envs)


def run_capacity(config: Config) -> int:
    """The replay buffer's capacity for a run: `replay_capacity`, or fewer where the run cannot collect that many
    transitions: it stops at the first step of its envs by which `episodes` have ended, so at most
    episodes + num_envs - 1 have ended and num_envs more begun, of at most max_cycles steps each, the envs
    stepping together."""
    steps_per_env = (-(-config.episodes // config.num_envs) + 2) * config.max_cycles
    return min(replay_capacity(config.buffer_size, config.num_envs), steps_per_env * config.num_envs)


@dataclass
class Config:
    # environment
    scenario: str = "simple_spread_v3"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # the scenario's own options, e.g. {"N": 4}
    max_cycles: int = 25
    continuous_actions: bool = False
    num_envs: int = 32
    env_backend: str = "batched"  # bit-identical to mpe2 (tests/test_batched_equivalence.py), ~100x faster

    # algorithm
    critic: str = "centralized"  # "centralized" = MADDPG, "independent" = DDPG per agent
    hidden_sizes: tuple[int, ...] = (64, 64)
    # "distances": the actors also get the distance from every agent to every landmark (simple_spread_v3)
    actor_inputs: str = "observation"
    actor_lr: float = 3e-3
    critic_lr: float = 3e-3
    gamma: float = 0.95
    n_step: int = 3  # critic targets from n-step returns (cut at episode ends)
    tau: float = 0.01
    batch_size: int = 512
    buffer_size: int = 1_000_000
    grad_clip: float = 0.5
    logits_regularization: float = 1e-3  # keeps discrete logits (continuous pre-activations) from drifting
    learning_starts: int = 1024  # transitions in the buffer before the first update
    update_every: int = 50  # transitions collected between rounds of updates
    updates_per_round: int = 1
    exploration_noise_start: float = 0.3  # std of Gaussian noise on continuous actions (Box [0, 1])
    exploration_noise_end: float = 0.05
    exploration_decay_episodes: int = 20_000

    # imitation: MAGAIL (Song et al. 2018) and behaviour cloning
    reward: str = "env"  # "env": the environment's reward; "gail": per-agent discriminators' reward
    demos: str | None = None  # expert demonstrations (.npz, see README) for --reward gail, --bc-init, --bc-weight and bc
    discriminator: str = "decentralized"  # D_i sees agent i's (o_i, a_i); "centralized": all agents'
    discriminator_reward: str = "softplus"  # softplus = -log(1 - D); logit = log D - log(1 - D); log_d = log D
    discriminator_lr: float = 3e-4
    discriminator_grad_penalty: float = 10.0  # keeps D smooth so its reward stays informative
    discriminator_label_smoothing: float = 0.0
    # fraction of D's policy samples that pair expert observations with the policy's own (exploring) actions
    discriminator_state_matched: float = 0.0
    # train D on samples turned by the plane's 8 rotations and reflections (envs/symmetries.py)
    discriminator_symmetries: bool = False
    bc_init: bool = False  # initialise the actors by behaviour cloning before MAGAIL
    bc_epochs: int = 200  # epochs over the demonstrations, for bc and --bc-init
    bc_batch_size: int = 256
    bc_lr: float = 1e-3
    bc_weight: float = 0.0  # weight of a behaviour-cloning term added to each actor's loss (needs --demos)
    bc_symmetries: bool = False  # clone (bc, bc_init, bc_weight) on demonstrations turned as discriminator_symmetries does
    # the symmetries above also relabel the interchangeable agents and landmarks (simple_spread_v3)
    relabel_entities: bool = False
    actor_warmup_updates: int = 0  # updates that train the critics only, e.g. to keep a --bc-init clone intact

    # run
    episodes: int = 30_000
    seed: int = 0
    device: str = "auto"
    eval_interval: int = 1000  # episodes between greedy evaluations written to metrics.csv
    eval_episodes: int = 20
    save_interval: int = 5000  # episodes between checkpoints and GIFs

    def parallel_env_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for `mpe2.<scenario>.parallel_env`."""
        return {**self.env_kwargs, "max_cycles": self.max_cycles, "continuous_actions": self.continuous_actions}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        values = dict(values)
        if "hidden_sizes" in values:
            values["hidden_sizes"] = tuple(values["hidden_sizes"])
        return cls(**values)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Config:
        return cls.from_dict(json.loads(path.read_text()))
