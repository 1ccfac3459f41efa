"""Do a MAGAIL run's discriminators prefer the expert's actions, on demonstrations they never saw?

    python bench/discriminator_probe.py RUN_DIR DATASET.npz [DATASET.npz ...]

For every transition of each dataset (discrete actions only), each agent's discriminator scores
every action the agent could have taken, the other agents' actions and all observations kept as
recorded. Per agent it prints the mean logit (high = expert) of the recorded action, the mean
logit of the other actions, and how often the recorded action has the highest logit. On the
run's own demonstrations against a second set of expert episodes (e.g. `main.py collect` with
`--seed 123`), the gap tells how much of what the discriminators learned carries over to expert
behaviour in general, which is what their reward has to reward.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maddpg_gail.checkpoint import find_checkpoint, load_checkpoint  # noqa: E402
from maddpg_gail.config import Config  # noqa: E402
from maddpg_gail.demonstrations import load_demonstrations  # noqa: E402
from maddpg_gail.discriminators import Discriminators  # noqa: E402
from maddpg_gail.networks import ActionSpec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    parser.add_argument("datasets", type=Path, nargs="+", metavar="DATASET.npz")
    args = parser.parse_args()

    state = load_checkpoint(find_checkpoint(args.run))
    config = Config.from_saved(state["config"])
    specs = [ActionSpec(**s) for s in state["action_specs"]]
    if config.reward != "gail":
        parser.error(f"{args.run} is not a MAGAIL run (--reward {config.reward}): it has no discriminators")
    if not all(spec.discrete for spec in specs):
        parser.error("the probe enumerates actions: it needs discrete action spaces")
    discriminators = Discriminators(state["obs_dims"], [s.dim for s in specs], tuple(config.hidden_sizes),
                                    centralized=config.discriminator == "centralized")
    discriminators.load_state_dict(state["discriminators"]["discriminators"])

    for path in args.datasets:
        demos = load_demonstrations(path, config.scenario, config.parallel_env_kwargs())
        obs = [torch.as_tensor(demos.obs[a]) for a in demos.agents]
        recorded = [spec.from_env(demos.actions[a]) for spec, a in zip(specs, demos.agents)]
        print(f"{path} ({demos.num_episodes} episodes)")
        for i, (agent, spec) in enumerate(zip(demos.agents, specs)):
            logits = []  # [T, n_actions]: agent i's discriminator with agent i taking each action in turn
            for action in range(spec.dim):
                actions = list(recorded)
                actions[i] = torch.nn.functional.one_hot(torch.full((len(obs[i]),), action), spec.dim).float()
                with torch.no_grad():
                    logits.append(discriminators(obs, actions)[:, i])
            logits = torch.stack(logits, dim=1)
            taken = torch.as_tensor(demos.actions[agent])
            taken_logit = logits.gather(1, taken[:, None]).squeeze(1)
            others = (logits.sum(dim=1) - taken_logit) / (spec.dim - 1)
            preferred = (logits.argmax(dim=1) == taken).float().mean()
            print(f"  {agent:12s} recorded action {taken_logit.mean():7.3f}   other actions {others.mean():7.3f}   "
                  f"recorded action ranked first {preferred:.1%}")


if __name__ == "__main__":
    main()
