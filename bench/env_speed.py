"""Env steps per second of the vector env backends, as a markdown table.

    python bench/env_speed.py [--scenario simple_spread_v3] [--seconds 2] [--num-envs 1 16 256 4096]

Each cell steps K envs under uniformly random actions, drawn before the clock starts, for about
`--seconds` (at least one step after one warm-up step), and reports K * steps / time. Auto-resets
are part of the timed work, as in training.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from gymnasium import spaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=DeprecationWarning)

from envs import SCENARIOS, make_vector_env  # noqa: E402
from envs.vector import Actions, VectorEnv  # noqa: E402

BACKENDS = ("mpe2", "batched")
ACTION_POOL = 64  # distinct action batches, cycled through: enough variety, little memory at K=4096


def random_actions(env: VectorEnv, rng: np.random.Generator) -> list[Actions]:
    pool = []
    for _ in range(ACTION_POOL):
        actions = {}
        for agent, space in env.action_spaces.items():
            if isinstance(space, spaces.Discrete):
                actions[agent] = rng.integers(0, space.n, env.num_envs)
            else:
                actions[agent] = rng.random((env.num_envs, *space.shape), dtype=np.float32)
        pool.append(actions)
    return pool


def steps_per_second(env: VectorEnv, seconds: float, seed: int) -> float:
    pool = random_actions(env, np.random.default_rng(seed))
    env.reset(seed)
    env.step(pool[0])  # warm-up: first-call costs are not the steady state
    steps, start = 0, time.perf_counter()
    while True:
        env.step(pool[steps % ACTION_POOL])
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return env.num_envs * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="simple_spread_v3")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per cell")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 16, 256, 4096])
    parser.add_argument("--continuous-actions", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    env_kwargs = {"continuous_actions": args.continuous_actions}
    actions = "continuous" if args.continuous_actions else "discrete"
    print(f"{args.scenario}, {actions} actions, {args.seconds:g} s per cell, {os.cpu_count()} CPUs\n")
    print("| K | " + " | ".join(f"{b} steps/s" for b in BACKENDS) + " | batched / mpe2 |")
    print("|---:|" + "---:|" * (len(BACKENDS) + 1))
    for num_envs in args.num_envs:
        rates = {}
        for backend in BACKENDS:
            env = make_vector_env(args.scenario, env_kwargs, num_envs, backend)
            rates[backend] = steps_per_second(env, args.seconds, args.seed)
            env.close()
        cells = " | ".join(f"{rates[b]:,.0f}" for b in BACKENDS)
        print(f"| {num_envs} | {cells} | {rates['batched'] / rates['mpe2']:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
