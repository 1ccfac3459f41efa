"""A trained joint policy, usable on the plain mpe2 env without the rest of the toolkit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from maddpg_gail.checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from maddpg_gail.config import Config
from maddpg_gail.maddpg import make_actors
from maddpg_gail.networks import ActionSpec


class Policy:
    """Greedy decentralized actors: each agent acts on its own observation only.

    `scenario` and `env_kwargs` say which env it was trained on:
    `getattr(mpe2, policy.scenario).parallel_env(**policy.env_kwargs)`.
    """

    def __init__(
        self,
        scenario: str,
        env_kwargs: dict[str, Any],
        agents: list[str],
        actors: nn.ModuleList,
        demos: str | None = None,
    ):
        self.scenario = scenario
        self.env_kwargs = env_kwargs
        self.demos = demos  # the demonstrations an imitation policy learned from
        self.agents = agents
        self.actors = actors
        self.device = next(actors.parameters()).device
        self.noise_std = 0.1  # std of the Gaussian noise on continuous actions when acting stochastically

    @torch.no_grad()
    def act_batch(self, observations: dict[str, np.ndarray], stochastic: bool = False) -> dict[str, np.ndarray]:
        """Observations [K, obs_dim] per agent to env actions [K] (int64) or [K, dim] (float32) per agent.

        `stochastic` samples as in training's exploration: a Gumbel-softmax sample for discrete actions,
        Gaussian noise of std `noise_std` clipped to [0, 1] for continuous ones (torch's random generator).
        """
        actions = {}
        for agent, actor in zip(self.agents, self.actors):
            obs = torch.as_tensor(np.asarray(observations[agent], dtype=np.float32), device=self.device)
            if stochastic:
                action = actor.explore(obs, self.noise_std)
            else:  # row by row: torch's CPU matmuls round differently with the batch size, and an observation
                # must get the same greedy action alone (a plain loop over one env) as in evaluate's batch
                action = torch.cat([actor.greedy(row) for row in obs.split(1)])
            actions[agent] = actor.action.to_env(action)
        return actions

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, Any]:
        """One env's observation dict to the action dict `parallel_env.step` accepts."""
        batched = self.act_batch({a: np.asarray(observations[a])[None] for a in self.agents})
        return {a: int(v[0]) if v.ndim == 1 else v[0] for a, v in batched.items()}


def spec_dicts(action_specs: list[ActionSpec]) -> list[dict[str, Any]]:
    return [{"discrete": s.discrete, "dim": s.dim} for s in action_specs]


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> Policy:
    """The greedy policy of a run folder or a checkpoint file."""
    checkpoint_path = find_checkpoint(Path(path))
    state = load_checkpoint(checkpoint_path, map_location=device)
    try:
        config = Config.from_dict(state["config"])
        specs = [ActionSpec(**s) for s in state["action_specs"]]
        actors = make_actors(config, list(state["obs_dims"]), specs)
        actors.load_state_dict(state["learner"]["actors"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{checkpoint_path}: the checkpoint's policy does not load ({error})") from None
    actors.to(device).eval()
    return Policy(config.scenario, config.parallel_env_kwargs(), list(state["agents"]), actors, config.demos)
