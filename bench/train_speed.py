"""Side by side, in one run: the default learner ("stacked": its agents' networks stacked, mixed precision where the
CPU multiplies bfloat16 natively), the same in float32 (`--precision float32`) and one network at a time
(`--no-stack-agents`): the cost of one update per (agent, sample), then the end-to-end wall time of
`python main.py --episodes N` of each, one run at a time.

    python bench/train_speed.py                                   # 30000 episodes, seed 0, all three learners
    python bench/train_speed.py --episodes 3000 --batch-sizes 64,512,4096
    python bench/train_speed.py --update-cost-only --scenario simple_speaker_listener_v4
    python bench/train_speed.py --learners stacked --backends batched,mpe2   # the env backends instead
    python bench/train_speed.py -- --reward gail --demos demos/spread.npz     # training flags after --

Each run is the real command line (start-up, training, evaluations, checkpoints and GIFs included), timed from
launch to exit; run it on an otherwise idle machine, and compare only figures of one run of this script.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# each learner's Config fields, as the update cost sets them, and as the flags that the timed runs pass
LEARNERS = {"stacked": {}, "float32": {"precision": "float32"}, "one-at-a-time": {"stack_agents": False}}
FLAGS = {"stacked": [], "float32": ["--precision", "float32"], "one-at-a-time": ["--no-stack-agents"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--scenario", default="simple_spread_v3")
    parser.add_argument("--learners", default="stacked,float32,one-at-a-time", help=f"any of {', '.join(LEARNERS)}")
    parser.add_argument("--backends", default="batched", help="env backends: batched, mpe2 or both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_train_speed")
    parser.add_argument("--batch-sizes", default="512", help="batch sizes of the update-cost measurement")
    parser.add_argument("--update-cost-only", action="store_true")
    parser.add_argument("training_flags", nargs="*", help="after --: flags for every run (not the update cost)")
    args = parser.parse_args()
    learners = args.learners.split(",")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        costs = {learner: update_cost(batch_size, args.scenario, LEARNERS[learner]) for learner in learners}
        print(f"update, batch {batch_size}, {args.scenario}: " + ", ".join(
            f"{learner} {ms:.2f} ms = {per_sample:.2f} us per (agent, sample)"
            for learner, (ms, per_sample) in costs.items()), flush=True)
    if args.update_cost_only:
        return
    times = {}
    for backend in args.backends.split(","):
        for learner in learners:
            name = f"{learner}__{backend}"
            run_dir = args.out / name
            command = [sys.executable, str(ROOT / "main.py"), "--scenario", args.scenario, "--episodes",
                       str(args.episodes), "--seed", str(args.seed), "--env-backend", backend, *FLAGS[learner],
                       *args.training_flags, "--run-dir", str(run_dir), "--overwrite"]
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name] = time.perf_counter() - started
            print(f"{name}: {args.episodes} episodes in {times[name]:.1f} s ({run_dir})", flush=True)
    fastest = min(times, key=times.get)
    print("; ".join(f"{name} {seconds / times[fastest]:.2f}x the time of {fastest}" for name, seconds in times.items()
                    if name != fastest))


def update_cost(batch_size: int, scenario: str, fields: dict, updates: int = 200) -> tuple[float, float]:
    """The default learner's time per update on a fixed random batch (the buffer, the env and the logging left
    out): ms, and microseconds per (agent, sample); the median of 5 rounds of `updates` updates."""
    import torch

    sys.path.insert(0, str(ROOT))
    from envs import env_spaces
    from maddpg_gail.buffer import Batch
    from maddpg_gail.config import Config
    from maddpg_gail.maddpg import MADDPG
    from maddpg_gail.networks import ActionSpec
    from maddpg_gail.trainer import resolve_device

    config = Config(scenario=scenario, batch_size=batch_size, **fields)
    device = resolve_device("cpu")  # one thread, as training runs
    found = env_spaces(scenario, config.parallel_env_kwargs())
    specs = [ActionSpec.from_space(found.action_spaces[a]) for a in found.agents]
    torch.manual_seed(0)
    learner = MADDPG(found.obs_dims, specs, config, device)
    n = len(specs)
    batch = Batch(obs=[torch.randn(batch_size, d) for d in found.obs_dims],
                  actions=[spec.from_env(torch.randint(spec.dim, (batch_size,)).numpy()) if spec.discrete
                           else torch.rand(batch_size, spec.dim) for spec in specs],
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
    return seconds * 1e3, seconds * 1e6 / (n * batch_size)


if __name__ == "__main__":
    main()
