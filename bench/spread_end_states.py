"""Where do the agents of simple_spread_v3 end their episodes? Coverage figures from recorded episodes.

    python main.py collect RUN_DIR --episodes 100 --seed 123 --out policy.npz
    python bench/spread_end_states.py expert.npz policy.npz [more.npz ...]

Any dataset `main.py collect` writes will do (an expert's, or any trained policy's episodes). From
each episode's last observations (`next_obs` of its final step) it prints:
- agent -> landmark: each agent's distance to its nearest landmark, mean over agents and episodes;
- landmark -> agent: each landmark's distance to its nearest agent, what the reward pays for;
- shared landmark: the share of episodes where two agents end nearest the same landmark;
- late speed: the agents' mean speed over the last 10 steps of an episode;
- return: the mean episode return per agent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.spread import SpreadLayout  # noqa: E402
from maddpg_gail.demonstrations import Demonstrations, DemonstrationsError, load_demonstrations  # noqa: E402

LATE_STEPS = 10


def end_states(demos: Demonstrations) -> dict[str, float]:
    n = len(demos.agents)
    _, first, length = np.unique(demos.episode_id, return_index=True, return_counts=True)  # ids are non-decreasing
    last = first + length - 1
    late = np.arange(demos.num_transitions) >= np.repeat(last + 1 - LATE_STEPS, length)
    final = np.stack([demos.next_obs[a][last] for a in demos.agents], axis=1)  # [episodes, agents, obs_dim]
    to_landmarks = np.linalg.norm(SpreadLayout(n).landmark_offsets(final), axis=-1)  # [E, agent, landmark]
    nearest = to_landmarks.argmin(axis=2)
    shared = np.mean([len(set(row)) < n for row in nearest])
    speed = np.mean([np.linalg.norm(demos.obs[a][late, :2], axis=1).mean() for a in demos.agents])
    return {
        "agent -> landmark": float(to_landmarks.min(axis=2).mean()),
        "landmark -> agent": float(to_landmarks.min(axis=1).mean()),
        "shared landmark": float(shared),
        "late speed": float(speed),
        "return per agent": float(demos.episode_returns().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", type=Path, nargs="+", metavar="DATASET.npz")
    args = parser.parse_args()
    rows = []
    for path in args.datasets:
        try:
            demos = load_demonstrations(path, "simple_spread_v3")
        except DemonstrationsError as error:
            parser.error(str(error))
        rows.append((path, demos.num_episodes, end_states(demos)))
    names = list(rows[0][2])
    print("| dataset | episodes | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for path, episodes, figures in rows:
        cells = [f"{figures[name]:.1%}" if name == "shared landmark" else f"{figures[name]:.3f}" for name in names]
        print(f"| {path} | {episodes} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
