"""A trained joint policy, usable on the plain mpe2 env without the rest of the toolkit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from maddpg_gail.checkpoint import (REQUIRED_KEYS, CheckpointError, check_state, find_checkpoint, load_torch_file,
                                    save_checkpoint)
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
            else:  # the network row by row: torch's CPU matmuls round differently with the batch size, and an
                # observation must get the same greedy action alone (a plain loop over one env) as in evaluate's
                # batch; its input features once for the batch, as they are the same for every batch size (spread.py)
                inputs = actor.inputs(obs)
                action = torch.cat([actor.greedy_action(actor.net(row)) for row in inputs.split(1)])
            actions[agent] = actor.action.to_env(action)
        return actions

    def act(self, observations: dict[str, np.ndarray]) -> dict[str, Any]:
        """One env's observation dict to the action dict `parallel_env.step` accepts."""
        batched = self.act_batch({a: np.asarray(observations[a])[None] for a in self.agents})
        return {a: int(v[0]) if v.ndim == 1 else v[0] for a, v in batched.items()}


def spec_dicts(action_specs: list[ActionSpec]) -> list[dict[str, Any]]:
    return [{"discrete": s.discrete, "dim": s.dim} for s in action_specs]


# Policy files, beside the run's checkpoint: the actors and what builds their env (75 KB for a default run).
POLICY_NAME = "policy.pt"  # the policy of the last checkpoint
BEST_POLICY_NAME = "best_policy.pt"  # the greedy policy of the best evaluation so far (return summed over agents)
POLICY_KIND = "maddpg-gail policy"
POLICY_KEYS = ("format_version", "kind", "config", "scenario", "env_kwargs", "agents", "obs_dims", "action_specs",
               "actors")


def policy_state(config: Config, agents: list[str], obs_dims: list[int], action_specs: list[ActionSpec],
                 actors: nn.ModuleList, **about: Any) -> dict[str, Any]:
    """What a policy file holds; `about`: where in training it was taken (episodes, env_steps, eval_return_sum)."""
    return {
        "kind": POLICY_KIND,
        "scenario": config.scenario,
        "env_kwargs": config.parallel_env_kwargs(),  # getattr(mpe2, scenario).parallel_env(**env_kwargs)
        "agents": list(agents),
        "obs_dims": list(obs_dims),
        "action_specs": spec_dicts(action_specs),
        "config": config.to_dict(),
        "actors": {name: tensor.detach().cpu().clone() for name, tensor in actors.state_dict().items()},
        **about,
    }


def save_policy(state: dict[str, Any], path: Path) -> None:
    """Written as a checkpoint is, atomically: a kill mid-write leaves the previous policy file whole."""
    save_checkpoint(state, path)


def find_policy(path: Path) -> Path:
    """A run folder's policy file, or else its checkpoint (runs from before policy files); a file as given."""
    path = Path(path)
    if path.is_dir() and (path / "checkpoints" / POLICY_NAME).is_file():
        return path / "checkpoints" / POLICY_NAME
    return find_checkpoint(path)


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> Policy:
    """The greedy policy of a run folder (its policy file, else its checkpoint), a policy file or a checkpoint."""
    path = find_policy(Path(path))
    what = "policy file" if path.name in (POLICY_NAME, BEST_POLICY_NAME) else "checkpoint"
    state = load_torch_file(path, map_location=device, what=what)
    is_policy_file = state.get("kind") == POLICY_KIND
    check_state(path, state, POLICY_KEYS if is_policy_file else REQUIRED_KEYS, what)
    try:
        weights = state["actors"] if is_policy_file else state["learner"]["actors"]
        config = Config.from_saved(state["config"])
        specs = [ActionSpec(**s) for s in state["action_specs"]]
        actors = make_actors(config, list(state["obs_dims"]), specs)
        actors.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as error:
        raise CheckpointError(f"{path}: the policy does not load ({error})") from None
    actors.to(device).eval()
    return Policy(config.scenario, config.parallel_env_kwargs(), list(state["agents"]), actors, config.demos)
