"""Can a discriminator tell a policy's behaviour from the expert's, one step at a time?

    python bench/discriminator_separation.py EXPERT.npz POLICY.npz HELDOUT_EXPERT.npz HELDOUT_POLICY.npz \\
        [--steps 8000] [--grad-penalty 10] [--lr 3e-4] [--hidden-sizes 64,64] [--symmetries] [--centralized]

Trains a fresh set of MAGAIL's discriminators (maddpg_gail/discriminators.py: the same networks,
loss and gradient penalty as in training) offline on EXPERT against POLICY, e.g. a final policy's
greedy episodes recorded with `main.py collect RUN --seed 7000000`, and scores the held-out pair,
e.g. both recorded on the evaluation episodes (`--seed 123`). Eight times over the training it
prints, on the held-out pair, how often a single step is classified right (logit > 0 for the
expert's, < 0 for the policy's) and the discriminator reward, softplus(logit), that an episode earns
on each side, averaged over agents. Steps that a discriminator cannot tell apart earn the policy as
much reward as the expert's, so the reward cannot lead the policy any closer to the expert there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs import env_spaces  # noqa: E402
from envs.features import plane_symmetries  # noqa: E402
from maddpg_gail.demonstrations import (  # noqa: E402
    Demonstrations, DemonstrationsError, ExpertData, episode_sums, load_demonstrations,
)
from maddpg_gail.discriminators import Discriminators, DiscriminatorTrainer  # noqa: E402
from maddpg_gail.networks import ActionSpec  # noqa: E402

REPORTS = 8


def episode_rewards(logits: torch.Tensor, episode_id: np.ndarray) -> float:
    """Mean over episodes and agents of the summed softplus(logit) rewards of each episode."""
    return float(episode_sums(episode_id, F.softplus(logits).numpy()).mean())


def separation(
    expert: Demonstrations,
    policy: Demonstrations,
    heldout_expert: Demonstrations,
    heldout_policy: Demonstrations,
    steps: int,
    grad_penalty: float = 10.0,
    lr: float = 3e-4,
    hidden_sizes: tuple[int, ...] = (64, 64),
    symmetries: bool = False,
    centralized: bool = False,
    batch_size: int = 512,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train discriminators on `expert` against `policy`; held-out reports at `REPORTS` even intervals."""
    torch.manual_seed(seed)
    found = env_spaces(expert.scenario, expert.env_kwargs)
    specs = [ActionSpec.from_space(found.action_spaces[a]) for a in expert.agents]
    obs_dims = [int(found.observation_spaces[a].shape[0]) for a in expert.agents]
    device = torch.device("cpu")
    train_expert, train_policy = (ExpertData(d, specs, device, seed + k) for k, d in enumerate((expert, policy)))
    scored = [ExpertData(d, specs, device, seed) for d in (heldout_expert, heldout_policy)]
    turn = plane_symmetries(expert.scenario, expert.env_kwargs, obs_dims, [s.dim for s in specs], device) if symmetries else None
    discriminators = Discriminators(obs_dims, [s.dim for s in specs], hidden_sizes, centralized)
    trainer = DiscriminatorTrainer(discriminators, lr, "softplus", label_smoothing=0.0, grad_penalty=grad_penalty)

    report_steps = {-(-k * steps // REPORTS) for k in range(1, REPORTS + 1)}
    reports = []
    for step in range(1, steps + 1):
        samples = [data.sample(batch_size) for data in (train_expert, train_policy)]
        if turn is not None:
            samples = [turn.augment(*sample, train_expert.generator) for sample in samples]
        trainer.update(*samples)
        if step in report_steps:
            with torch.no_grad():
                expert_logits, policy_logits = (discriminators(data.obs, data.actions) for data in scored)
            reports.append({
                "step": step,
                "expert accuracy": float((expert_logits > 0).float().mean()),
                "policy accuracy": float((policy_logits < 0).float().mean()),
                "expert episode reward": episode_rewards(expert_logits, heldout_expert.episode_id),
                "policy episode reward": episode_rewards(policy_logits, heldout_policy.episode_id),
            })
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("expert", "policy", "heldout_expert", "heldout_policy"):
        parser.add_argument(name, type=Path, metavar=f"{name.upper()}.npz")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--grad-penalty", type=float, default=10.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--hidden-sizes", default="64,64", help="e.g. 64,64")
    parser.add_argument("--symmetries", action="store_true", help="turn every sample as --discriminator-symmetries does")
    parser.add_argument("--centralized", action="store_true", help="every D_i sees all agents (--discriminator centralized)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"argument --steps: {args.steps} is not a positive number of steps")
    try:
        hidden_sizes = tuple(int(size) for size in args.hidden_sizes.split(","))
    except ValueError:
        hidden_sizes = ()
    if not hidden_sizes or min(hidden_sizes) < 1:
        parser.error(f"argument --hidden-sizes: {args.hidden_sizes!r} is not a comma-separated list of positive sizes")
    torch.set_num_threads(1)
    try:
        expert = load_demonstrations(args.expert)
        others = [load_demonstrations(path, expert.scenario, expert.env_kwargs)
                  for path in (args.policy, args.heldout_expert, args.heldout_policy)]
        reports = separation(expert, *others, steps=args.steps, grad_penalty=args.grad_penalty, lr=args.lr,
                             hidden_sizes=hidden_sizes, symmetries=args.symmetries, centralized=args.centralized,
                             seed=args.seed)
    except (DemonstrationsError, ValueError) as error:
        parser.error(str(error))

    print("held out: steps classified right (expert, policy), and discriminator reward per episode and agent")
    print(f"{'step':>6}  {'expert':>7} {'policy':>7}   {'expert':>7} {'policy':>7}")
    for r in reports:
        print(f"{r['step']:6d}  {r['expert accuracy']:7.1%} {r['policy accuracy']:7.1%}   "
              f"{r['expert episode reward']:7.2f} {r['policy episode reward']:7.2f}")


if __name__ == "__main__":
    main()
