"""End-to-end wall time of `python main.py --episodes N` with each env backend, one run at a time.

    python bench/train_speed.py                 # 30000 episodes, batched then mpe2, seed 0
    python bench/train_speed.py --episodes 3000 --backends batched

Each run is the real command line (start-up, training, evaluations, checkpoints and GIFs
included), timed from launch to exit; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--backends", default="batched,mpe2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_train_speed")
    args = parser.parse_args()
    times = {}
    for backend in args.backends.split(","):
        run_dir = args.out / backend
        command = [sys.executable, str(ROOT / "main.py"), "--episodes", str(args.episodes), "--seed", str(args.seed),
                   "--env-backend", backend, "--run-dir", str(run_dir), "--overwrite"]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[backend] = time.perf_counter() - started
        print(f"{backend}: {times[backend]:.1f} s ({run_dir})", flush=True)
    if {"batched", "mpe2"} <= times.keys():
        print(f"batched is {times['mpe2'] / times['batched']:.2f}x faster end to end")


if __name__ == "__main__":
    main()
