"""Learning quality of the defaults: MADDPG vs independent DDPG on simple_spread_v3 over seeds.

    python bench/quality.py                  # 3 seeds x {maddpg, iddpg}, 30000 episodes, 2 runs at a time
    python bench/quality.py --seeds 5 --scenario simple_reference_v3 --episodes 100000

Training goes through `main.py compare` (which keeps finished runs and resumes unfinished ones, so
an interrupted benchmark continues where it stopped); then every run's final greedy policy is
evaluated on 200 episodes and the table is printed in markdown. The study's folder (runs/bench_quality/
<scenario>[__<what differs from the defaults>], or --out) holds compare's results.md with the commit, the command
and each variant's config.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="simple_spread_v3")
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--eval-seed", type=int, default=123)
    parser.add_argument("--out", type=Path, help="default: runs/bench_quality/<scenario>[__<difference>]")
    args = parser.parse_args()
    if args.out is None:
        from maddpg_gail.variants import difference_name

        difference = difference_name({"episodes": args.episodes})
        args.out = ROOT / "runs" / "bench_quality" / "__".join(
            [args.scenario, *([difference] if difference != "defaults" else [])])
    subprocess.run([sys.executable, str(ROOT / "main.py"), "compare", "--scenario", args.scenario,
                    "--variants", "maddpg,iddpg", "--seeds", str(args.seeds), "--episodes", str(args.episodes),
                    "--workers", str(args.workers), "--out", str(args.out)], cwd=ROOT, check=True)

    from maddpg_gail import load_policy
    from maddpg_gail.evaluation import evaluate

    print(f"\n{args.scenario}, {args.episodes} episodes, greedy return summed over agents on {args.eval_episodes} "
          f"evaluation episodes (seed {args.eval_seed})\n")
    print("| variant | mean over seeds | per seed |")
    print("|---|---:|---|")
    for variant in ("maddpg", "iddpg"):
        returns = [evaluate(load_policy(args.out / f"{variant}__s{seed}"), args.eval_episodes, args.eval_seed).mean_sum
                   for seed in range(args.seeds)]
        print(f"| {variant} | {np.mean(returns):.2f} | {', '.join(f'{r:.2f}' for r in returns)} |")


if __name__ == "__main__":
    main()
