"""Held-out cloning loss against epochs: clone on 80% of the episodes, the cross-entropy and accuracy on the other 20%
every 50 epochs. `python heldout_cloning.py DEMOS.npz SEED MAX_EPOCHS` (here: the 20 speaker-listener
demonstrations, seed 0, 3000)."""
import sys, dataclasses, json
from pathlib import Path

import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
torch.set_num_threads(1)
from maddpg_gail.config import Config
from maddpg_gail.trainer import Trainer
from maddpg_gail.demonstrations import load_demonstrations, ExpertData
from maddpg_gail.bc import bc_loss

path, seed, max_epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
demos = load_demonstrations(Path(path))
cfg = Config(scenario=demos.scenario, demos=path, episodes=0, seed=seed)
tr = Trainer(cfg, Path("/tmp/heldout_cloning_unused"))
ids = np.unique(demos.episode_id); rng = np.random.default_rng(seed); rng.shuffle(ids)
n_val = max(1, len(ids) // 5)
def subset(keep):
    m = np.isin(demos.episode_id, keep)
    return dataclasses.replace(demos, obs={a: v[m] for a, v in demos.obs.items()},
                               actions={a: v[m] for a, v in demos.actions.items()},
                               rewards={a: v[m] for a, v in demos.rewards.items()},
                               next_obs={a: v[m] for a, v in demos.next_obs.items()}, episode_id=demos.episode_id[m])
train = ExpertData(subset(ids[n_val:]), tr.action_specs, torch.device("cpu"), seed)
val = ExpertData(subset(ids[:n_val]), tr.action_specs, torch.device("cpu"), seed)
L = tr.learner; sym = tr.imitation.symmetries if cfg.bc_symmetries else None
opt = torch.optim.Adam(L.actor_stacks.parameters(), lr=cfg.bc_lr, fused=True)
out = []
for epoch in range(1, max_epochs + 1):
    for obs, act in train.epoch(cfg.bc_batch_size):
        if sym is not None:
            obs, act = sym.augment(obs, act, train.generator)
        loss = torch.stack([bc_loss(a, o, x) for a, o, x in zip(L.actors, L.actor_outputs(obs), act)]).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    if epoch % 50 == 0:
        with torch.no_grad():
            outs = L.actor_outputs(val.obs)
            ce = sum(float(bc_loss(a, o, x)) for a, o, x in zip(L.actors, outs, val.actions))
            acc = np.mean([float((o.argmax(-1) == x.argmax(-1)).float().mean()) for o, x in zip(outs, val.actions)])
        out.append((epoch, ce, acc))
best = min(out, key=lambda r: r[1]); besta = max(out, key=lambda r: r[2])
print(json.dumps({"path": path, "seed": seed, "best_ce_epoch": best[0], "best_ce": best[1], "best_acc_epoch": besta[0],
                  "curve": [(e, round(c, 3), round(a, 3)) for e, c, a in out[::4]]}))
