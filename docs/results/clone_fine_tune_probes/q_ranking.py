"""At the end of the critic warm-up from a clone: how often each critic rates each of its agent's actions highest
(the others' actions as taken), against how often the clone itself takes each action, on replay-buffer states.

    PYTHONPATH=. python docs/results/clone_fine_tune_probes/q_ranking.py RUN_DIR
"""
import sys
from pathlib import Path

import torch

from maddpg_gail.checkpoint import load_checkpoint
from maddpg_gail.config import Config
from maddpg_gail.trainer import Trainer

run = Path(sys.argv[1])
state = load_checkpoint(run / "checkpoints" / "checkpoint.pt")
config = Config.from_saved(state["config"])
trainer = Trainer(config, run)
trainer.restore(state)
learner = trainer.learner
print("updates", learner.updates, "episodes", state["counters"]["episodes"])
torch.manual_seed(0)
batch = trainer.buffer.sample(20000)
with torch.no_grad():
    outputs = learner.actor_outputs(batch.obs)
    n_act = outputs[0].shape[-1]
    q_all = []
    for k in range(n_act):
        one = torch.zeros_like(batch.actions[0]); one[:, k] = 1.0
        inputs = []
        for i in range(learner.n_agents):
            acts = list(batch.actions); acts[i] = one
            inputs.append(learner.critic_input(i, batch.obs, acts))
        q_all.append(torch.stack([q[0] for q in learner.q_heads(inputs)], dim=-1))
    q_all = torch.stack(q_all, dim=1)  # [B, K, n]
for i in range(learner.n_agents):
    best = q_all[:, :, i].argmax(1)
    clone = outputs[i].argmax(-1)
    taken = batch.actions[i].argmax(-1)
    spread = (q_all[:, :, i].max(1).values - q_all[:, :, i].min(1).values)
    print(f"agent {i}: critic's best action  ", [round((best == k).float().mean().item(), 3) for k in range(n_act)])
    print(f"agent {i}: clone's greedy action  ", [round((clone == k).float().mean().item(), 3) for k in range(n_act)])
    print(f"agent {i}: action in the buffer   ", [round((taken == k).float().mean().item(), 3) for k in range(n_act)])
    print(f"agent {i}: mean Q per action      ", [round(q_all[:, k, i].mean().item(), 3) for k in range(n_act)],
          "max-min over actions: mean", round(spread.mean().item(), 3))
