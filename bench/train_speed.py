"""End-to-end wall time of `python main.py --episodes N` with each env backend, one run at a time, and the cost
of one learner update per (agent, sample).

    python bench/train_speed.py                 # 30000 episodes, batched then mpe2, seed 0
    python bench/train_speed.py --episodes 3000 --backends batched
    python bench/train_speed.py --update-cost-only --batch-sizes 64,512,4096

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
    parser.add_argument("--batch-sizes", default="512", help="batch sizes of the update-cost measurement")
    parser.add_argument("--update-cost-only", action="store_true")
    args = parser.parse_args()
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        print(update_cost(batch_size), flush=True)
    if args.update_cost_only:
        return
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


def update_cost(batch_size: int, updates: int = 300, scenario: str = "simple_spread_v3") -> str:
    """The default learner's time per update on a fixed random batch (the buffer, the env and the logging left
    out), in ms and in microseconds per (agent, sample); the median of 5 rounds of `updates` updates."""
    import statistics

    import torch

    sys.path.insert(0, str(ROOT))
    from envs import env_spaces
    from maddpg_gail.buffer import Batch
    from maddpg_gail.config import Config
    from maddpg_gail.maddpg import MADDPG
    from maddpg_gail.networks import ActionSpec
    from maddpg_gail.trainer import resolve_device

    config = Config(scenario=scenario, batch_size=batch_size)
    device = resolve_device("cpu")  # one thread, as training runs
    found = env_spaces(scenario, config.parallel_env_kwargs())
    specs = [ActionSpec.from_space(found.action_spaces[a]) for a in found.agents]
    torch.manual_seed(0)
    learner = MADDPG(found.obs_dims, specs, config, device)
    n = len(specs)
    batch = Batch(obs=[torch.randn(batch_size, d) for d in found.obs_dims],
                  actions=[spec.from_env(torch.randint(spec.dim, (batch_size,)).numpy()) for spec in specs],
                  rewards=torch.randn(batch_size, n), next_obs=[torch.randn(batch_size, d) for d in found.obs_dims],
                  terminated=torch.zeros(batch_size), discount=torch.full((batch_size,), config.gamma ** config.n_step))
    for _ in range(30):
        learner.update(batch)
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(updates):
            learner.update(batch)
        rounds.append((time.perf_counter() - started) / updates)
    seconds = statistics.median(rounds)
    return (f"update, batch {batch_size}, {n} agents of {scenario}: {seconds * 1e3:.2f} ms, "
            f"{seconds * 1e6 / (n * batch_size):.2f} us per (agent, sample)")


if __name__ == "__main__":
    main()
