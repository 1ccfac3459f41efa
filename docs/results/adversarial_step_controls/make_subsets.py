"""The first 20 episodes of each of the benchmark's 100-episode files (in /tmp/gen), written to /tmp/subsets."""
import sys, dataclasses
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
from maddpg_gail.demonstrations import load_demonstrations, save_demonstrations
for ds in ["simple_spread_v3__scripted", "simple_spread_v3__maddpg", "simple_reference_v3__world", "simple_adversary_v3__world", "simple_v3__world"]:
    d = load_demonstrations(f"/tmp/gen/{ds}__100demos/demos.npz")
    ids = np.unique(d.episode_id)[:20]; m = np.isin(d.episode_id, ids)
    sub = dataclasses.replace(d, obs={a: v[m] for a, v in d.obs.items()}, actions={a: v[m] for a, v in d.actions.items()},
                              rewards={a: v[m] for a, v in d.rewards.items()}, next_obs={a: v[m] for a, v in d.next_obs.items()},
                              episode_id=d.episode_id[m])
    save_demonstrations(sub, f"/tmp/subsets/{ds}__20demos.npz"); print(ds, m.sum())
