"""At the end of the critic warm-up from a clone under MAGAIL: how often each agent's discriminator reward and each
critic rate each of the agent's actions highest (the others' actions as taken), against how often the clone takes
each action, on replay-buffer states; and on the demonstrations' own states, how often the discriminator reward
rates the expert's action highest.

    PYTHONPATH=. python docs/results/clone_fine_tune_probes/d_ranking.py RUN_DIR
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
learner, gail = trainer.learner, trainer.imitation.gail
print("updates", learner.updates, "episodes", state["counters"]["episodes"])


def ranks(obs, actions):
    """[B, K, n] discriminator rewards and critic values with agent i's action set to each k in turn."""
    n_act = actions[0].shape[-1]
    r_all, q_all = [], []
    for k in range(n_act):
        one = torch.zeros_like(actions[0]); one[:, k] = 1.0
        r_k, inputs = [], []
        for i in range(learner.n_agents):
            acts = list(actions); acts[i] = one
            r_k.append(gail.rewards(obs, acts)[:, i])
            inputs.append(learner.critic_input(i, obs, acts))
        r_all.append(torch.stack(r_k, -1))
        q_all.append(torch.stack([q[0] for q in learner.q_heads(inputs)], dim=-1))
    return torch.stack(r_all, 1), torch.stack(q_all, 1)


def shares(x, n_act):
    return [round((x == k).float().mean().item(), 3) for k in range(n_act)]


torch.manual_seed(0)
batch = trainer.buffer.sample(20000)
expert_obs, expert_actions = trainer.imitation.expert.sample(20000)
with torch.no_grad():
    outputs = learner.actor_outputs(batch.obs)
    r_all, q_all = ranks(batch.obs, batch.actions)
    r_exp, _ = ranks(expert_obs, expert_actions)
n_act = r_all.shape[1]
for i in range(learner.n_agents):
    clone = outputs[i].argmax(-1)
    print(f"agent {i}: D reward's best action  ", shares(r_all[:, :, i].argmax(1), n_act),
          "mean reward per action", [round(r_all[:, k, i].mean().item(), 3) for k in range(n_act)])
    print(f"agent {i}: critic's best action    ", shares(q_all[:, :, i].argmax(1), n_act))
    print(f"agent {i}: clone's greedy action   ", shares(clone, n_act),
          "D's best is the clone's:", round((r_all[:, :, i].argmax(1) == clone).float().mean().item(), 3),
          "critic's best is the clone's:", round((q_all[:, :, i].argmax(1) == clone).float().mean().item(), 3))
    exp = expert_actions[i].argmax(-1)
    print(f"agent {i}: at expert states, D's best is the expert's action:",
          round((r_exp[:, :, i].argmax(1) == exp).float().mean().item(), 3),
          "expert's action shares", shares(exp, n_act))
