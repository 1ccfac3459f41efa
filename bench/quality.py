"""Learning quality and wall time of `python main.py --episodes N` with the defaults, over seeds and critics.

Each (critic, seed) run trains through the real CLI (timed end to end), then its greedy policy is
evaluated on 200 episodes. Results go to a JSON file and a markdown table on stdout.

    python bench/quality.py                       # 3 seeds x {centralized, independent}, 30000 episodes
    python bench/quality.py --jobs 2              # two runs at a time (wall times then overlap: note it)
    python bench/quality.py --critics centralized --seeds 0 --jobs 1   # one clean timing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_one(critic: str, seed: int, args: argparse.Namespace) -> dict:
    from maddpg_gail import load_policy
    from maddpg_gail.evaluation import evaluate

    run_dir = args.out / f"{args.scenario}__{critic}__s{seed}"
    command = [sys.executable, str(ROOT / "main.py"), "--scenario", args.scenario, "--episodes", str(args.episodes),
               "--critic", critic, "--seed", str(seed), "--run-dir", str(run_dir), "--overwrite", *args.extra]
    started = time.perf_counter()
    with open(args.out / f"{run_dir.name}.log", "w") as log:
        subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall_time = time.perf_counter() - started
    result = evaluate(load_policy(run_dir), args.eval_episodes, seed=args.eval_seed)
    row = {"critic": critic, "seed": seed, "wall_time_s": round(wall_time, 1), "return_sum": result.mean_sum,
           "return_per_agent": result.mean_per_agent, "run_dir": str(run_dir)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="simple_spread_v3")
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--critics", default="centralized,independent")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--eval-seed", type=int, default=123)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_quality")
    parser.add_argument("--results", type=Path, default=None, help="JSON file (default OUT/results.json)")
    parser.add_argument("extra", nargs="*", help="further main.py flags, after --")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = [(c, int(s)) for c in args.critics.split(",") for s in args.seeds.split(",")]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda pair: run_one(*pair, args), pairs))
    (args.results or args.out / "results.json").write_text(json.dumps({"jobs": args.jobs, "runs": rows}, indent=2))

    print(f"\n{args.scenario}, {args.episodes} episodes, greedy return summed over agents "
          f"({args.eval_episodes} evaluation episodes), {args.jobs} run(s) at a time\n")
    print("| critic | seeds | mean return | per seed | wall time per run |")
    print("|---|---|---|---|---|")
    for critic in args.critics.split(","):
        mine = [r for r in rows if r["critic"] == critic]
        returns = [r["return_sum"] for r in mine]
        times = [r["wall_time_s"] for r in mine]
        print(f"| {critic} | {len(mine)} | {np.mean(returns):.2f} | {', '.join(f'{x:.2f}' for x in returns)} "
              f"| {np.mean(times):.0f} s ({min(times):.0f}-{max(times):.0f}) |")


if __name__ == "__main__":
    main()
