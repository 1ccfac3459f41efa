"""Greedy evaluation of a joint policy, and GIFs of its episodes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np
from gymnasium import spaces
from PIL import Image  # imageio's own dependency: its GIF writer is Pillow's

from envs import env_spaces, make_parallel_env, teams
from envs.rollout import MAX_PARALLEL, episode_seeds, rollout
from maddpg_gail.files import atomic_path
from maddpg_gail.policy import Policy


def team_returns(returns: np.ndarray, agents: list[str], teams: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Returns [episodes, n_agents] summed over each team's agents: team -> [episodes]."""
    return {team: returns[:, [agents.index(a) for a in members]].sum(axis=1) for team, members in teams.items()}


@dataclass
class EvaluationResult:
    agents: list[str]
    returns: np.ndarray  # [episodes, n_agents]: undiscounted environment return per episode and agent
    seeds: list[int] = field(default_factory=list)  # episode i started from mpe2's reset(seed=seeds[i])
    teams: dict[str, list[str]] = field(default_factory=dict)  # competitive scenarios: agents per team

    @property
    def mean_per_agent(self) -> dict[str, float]:
        return {a: float(m) for a, m in zip(self.agents, self.returns.mean(axis=0))}

    @property
    def mean_sum(self) -> float:
        return float(self.returns.sum(axis=1).mean())

    @property
    def std_sum(self) -> float:
        return float(self.returns.sum(axis=1).std())

    @property
    def mean_per_team(self) -> dict[str, float]:
        """Each team's mean return summed over its agents ({} unless competitive)."""
        return {team: float(r.mean()) for team, r in team_returns(self.returns, self.agents, self.teams).items()}

    def to_json(self, **context: Any) -> dict[str, Any]:
        """What `evaluate --json` prints: `context` (scenario, seed, ...), the seeds, returns per episode, summary."""
        sums = self.returns.sum(axis=1)
        return {
            **context,
            "episodes": len(self.returns),
            "episode_seeds": [int(s) for s in self.seeds],
            "agents": list(self.agents),
            "teams": self.teams,
            "returns": {a: self.returns[:, i].tolist() for i, a in enumerate(self.agents)},
            "return_sum": sums.tolist(),
            "summary": {
                "mean": self.mean_per_agent, "mean_sum": self.mean_sum, "std_sum": self.std_sum,
                "min_sum": float(sums.min()), "max_sum": float(sums.max()), "mean_per_team": self.mean_per_team,
            },
        }

    def lines(self) -> list[str]:
        """The human-readable summary: mean per agent, per team where competitive, and summed."""
        lines = [f"  {agent:<16} {mean:10.3f}" for agent, mean in self.mean_per_agent.items()]
        lines += [f"  {'team ' + team:<16} {mean:10.3f}" for team, mean in self.mean_per_team.items()]
        lines.append(f"  {'sum':<16} {self.mean_sum:10.3f}  (std {self.std_sum:.3f})")
        return lines


class RandomPolicy:
    """Uniformly random actions, the zero of the normalized score; `evaluate` takes it like a `Policy`."""

    def __init__(self, scenario: str, env_kwargs: dict, seed: int):
        self.scenario = scenario
        self.env_kwargs = env_kwargs
        found = env_spaces(scenario, env_kwargs)
        self.agents = found.agents
        self.action_spaces = found.action_spaces
        self.rng = np.random.default_rng(seed)

    def act_batch(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        actions = {}
        for agent, space in self.action_spaces.items():
            k = len(observations[agent])
            if isinstance(space, spaces.Discrete):
                actions[agent] = self.rng.integers(space.n, size=k)
            else:
                actions[agent] = self.rng.uniform(space.low, space.high, size=(k, *space.shape)).astype(np.float32)
        return actions


def normalized_score(policy_return, expert_return: float, random_return: float):
    """(R_policy - R_random) / (R_expert - R_random): 0 for random actions, 1 for the expert."""
    return (np.asarray(policy_return, dtype=float) - random_return) / (expert_return - random_return)


def evaluate(
    policy: Policy, episodes: int, seed: int, env_backend: str = "batched", max_parallel: int = MAX_PARALLEL
) -> EvaluationResult:
    """`episodes` greedy episodes from the seeds `episode_seeds(seed, episodes)`, `max_parallel` envs at a time.

    Returns are summed in float64 in step order, as a plain loop over mpe2's rewards sums them.
    """
    seeds = episode_seeds(seed, episodes)
    returns = np.zeros((episodes, len(policy.agents)))
    for _, _, step, episode in rollout(policy, policy.scenario, policy.env_kwargs, seeds, env_backend, max_parallel):
        playing = episode >= 0
        returns[episode[playing]] += np.stack([step.rewards[a][playing] for a in policy.agents], axis=1)
    return EvaluationResult(list(policy.agents), returns, seeds, teams(policy.scenario, policy.env_kwargs))


def record_gif(policy: Policy, path: Path, seed: int, fps: int = 10) -> float:
    """Render the first episode `evaluate(policy, n, seed)` plays, on the plain mpe2 env, into a GIF; returns
    its return summed over agents (the first of evaluate's `return_sum`)."""
    env = make_parallel_env(policy.scenario, policy.env_kwargs, render_mode="rgb_array")
    observations, _ = env.reset(seed=episode_seeds(seed, 1)[0])
    frames = [env.render()]
    returns = np.zeros(len(policy.agents))
    while env.agents:
        observations, rewards, *_ = env.step(policy.act(observations))
        returns += [rewards[a] for a in policy.agents]
        frames.append(env.render())
    env.close()
    # Encoded in memory, then written by us: when imageio writes a file itself and the disk is full, the
    # half-closed writer it leaves retries at garbage collection and prints tracebacks after our one-line error.
    data = encode_gif(frames, fps)
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return float(returns[None].sum(axis=1)[0])


def encode_gif(frames: list[np.ndarray], fps: int) -> bytes:
    """RGB frames [H, W, 3] as a looping GIF. MPE's frames hold a few hundred colours at most: then the palette is
    their exact colours, found at once for every frame (a quarter of the time of the per-frame median cut that
    imageio's writer runs, 0.1 against 0.45 s for an episode of spread, and lossless); otherwise imageio's."""
    packed = [(frame[..., 0].astype(np.uint32) << 16) | (frame[..., 1].astype(np.uint32) << 8) | frame[..., 2]
              for frame in frames]  # 0xRRGGBB per pixel
    present = np.zeros(1 << 24, dtype=bool)
    for frame in packed:
        present[frame] = True
    colors = np.flatnonzero(present)
    if len(colors) > 256:
        return imageio.mimsave("<bytes>", frames, format="GIF", duration=1000 / fps, loop=0)
    index = np.zeros(1 << 24, dtype=np.uint8)
    index[colors] = np.arange(len(colors))
    palette = np.stack([colors >> 16, (colors >> 8) & 255, colors & 255], axis=1).astype(np.uint8).ravel().tolist()
    images = [Image.fromarray(index[frame], mode="P") for frame in packed]
    for image in images:
        image.putpalette(palette)
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0)
    return out.getvalue()
