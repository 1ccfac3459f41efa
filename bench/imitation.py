"""Imitation quality: MAGAIL (decentralized and centralized discriminators) against behaviour cloning.

    python bench/imitation.py --scenario simple_speaker_listener_v4        # expert: MADDPG, seed 0
    python bench/imitation.py --scenario simple_spread_v3 --expert-seed 1  # expert: MADDPG, seed 1
    python bench/imitation.py --scenario simple_spread_v3 --expert scripted --demo-seed 0
    python bench/imitation.py --scenario simple_speaker_listener_v4 --demo-episodes 20 --variants magail,bc
    python bench/imitation.py --scenario simple_speaker_listener_v4 --variants magail -- --discriminator-state-matched 0.5

Each step keeps what an earlier, interrupted benchmark finished:
1. the expert: a MADDPG run of the default configuration (`main.py --scenario S --seed N`), or the
   scripted expert of simple_spread_v3;
2. `main.py collect`: --demo-episodes greedy expert episodes (from --demo-seed; the default, 1000000,
   is never an evaluation seed);
3. `main.py compare`: every variant x --seeds runs on those demonstrations, with any training flags
   given after `--`; it prints (and writes into results.md) the table: final greedy policies on 100
   episodes, seed 123, with the normalized score against the dataset's mean return and uniformly
   random actions, and the commit, the command and each variant's config. Its folder is named by the
   dataset and by what the training flags change from the defaults (e.g. `...__compare__bc_init=true`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maddpg_gail.cli import DEMONSTRATION_SEED, parse  # noqa: E402
from maddpg_gail.variants import difference_name  # noqa: E402


def main_py(*args: str) -> None:
    """`python main.py ARGS`; a failure or an interruption (exit 130) ends the benchmark with its code."""
    code = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT).returncode
    if code != 0:
        sys.exit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="simple_spread_v3")
    parser.add_argument("--expert", choices=("maddpg", "scripted"), default="maddpg")
    parser.add_argument("--expert-seed", type=int, default=0)
    parser.add_argument("--expert-episodes", type=int, default=30000)
    parser.add_argument("--demo-episodes", type=int, default=100)
    parser.add_argument("--demo-seed", type=int, default=DEMONSTRATION_SEED)
    parser.add_argument("--variants", default="magail,magail-centralized,bc")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_imitation")
    parser.add_argument("training_flags", nargs="*", help="after --: training flags for every imitation run")
    args = parser.parse_args()

    if args.expert == "scripted":
        name = f"{args.scenario}__scripted"
    else:
        name = f"{args.scenario}__maddpg_s{args.expert_seed}_{args.expert_episodes}"
    demos = args.out / f"{name}__{args.demo_episodes}_seed{args.demo_seed}.npz"
    if not demos.exists():
        if args.expert == "scripted":
            main_py("collect", "--expert", "scripted", "--scenario", args.scenario,
                    "--episodes", str(args.demo_episodes), "--seed", str(args.demo_seed), "--out", str(demos))
        else:
            expert = args.out / f"{name}__expert"
            if (expert / "config.json").exists():  # trains on from its checkpoint, or says it has nothing to do
                main_py("--resume", str(expert), "--episodes", str(args.expert_episodes))
            else:
                main_py("--scenario", args.scenario, "--seed", str(args.expert_seed),
                        "--episodes", str(args.expert_episodes), "--run-dir", str(expert))
            main_py("collect", str(expert), "--episodes", str(args.demo_episodes), "--seed", str(args.demo_seed),
                    "--out", str(demos))

    # a folder for each study, named by what its training flags change from the defaults
    flag_words = [difference_name(parse("train", args.training_flags))] if args.training_flags else []
    main_py("compare", "--scenario", args.scenario, "--variants", args.variants, "--demos", str(demos),
            "--seeds", str(args.seeds), "--episodes", str(args.episodes), "--workers", str(args.workers),
            "--out", str(args.out / "__".join([f"{demos.stem}__compare", *flag_words])), *args.training_flags)


if __name__ == "__main__":
    main()
