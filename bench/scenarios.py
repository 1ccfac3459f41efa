"""The results table of every scenario the CLI accepts: the defaults, N seeds, the final greedy return per team,
with uniformly random actions and, where one exists, a scripted expert on the same evaluation episodes.

    python bench/scenarios.py                                     # every scenario, discrete and continuous
    python bench/scenarios.py --scenarios simple_spread_v3 --actions continuous --seeds 3

Training goes through `main.py compare --variants maddpg` (finished runs are kept, unfinished ones resume, so an
interrupted benchmark continues where it stopped), one folder per scenario and action type under --out. Each
run's final policy is evaluated once on --eval-episodes episodes from the reports' fixed seed (cached in its
final_eval.json); a team's return is the sum of its agents' mean returns (competitive scenarios: adversaries
and good agents apart; cooperative ones: every agent). Intervals are 95% Student t intervals over the seeds.
The table is printed and written to <out>/scenarios.md with the commit and the command.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from envs import SCENARIOS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated (default: all)")
    parser.add_argument("--actions", default="discrete,continuous", help="discrete, continuous or both")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_scenarios")
    parser.add_argument("--table-only", action="store_true", help="write the table of the runs finished so far")
    args = parser.parse_args()
    scenarios, actions = args.scenarios.split(","), args.actions.split(",")
    for name in scenarios:
        if name not in SCENARIOS:
            parser.error(f"--scenarios: unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    for kind in actions:
        if kind not in ("discrete", "continuous"):
            parser.error(f"--actions: {kind!r} is not discrete or continuous")

    rows = []
    for scenario in scenarios:
        for kind in actions:
            out = args.out / (scenario + ("__continuous" if kind == "continuous" else ""))
            if not args.table_only:
                subprocess.run([sys.executable, str(ROOT / "main.py"), "compare", "--scenario", scenario,
                                *(["--continuous-actions"] if kind == "continuous" else []),
                                "--variants", "maddpg", "--seeds", str(args.seeds), "--workers", str(args.workers),
                                "--final-eval-episodes", str(args.eval_episodes), "--out", str(out)],
                               cwd=ROOT, check=True)
            rows += table_rows(scenario, kind, out, args.seeds, args.eval_episodes)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    lines = [f"Final greedy return per team, {args.eval_episodes} evaluation episodes (seed of the reports), "
             f"defaults (30000 episodes); mean over n seeds with its 95% Student t interval.",
             "", f"commit {commit}; `python bench/scenarios.py {' '.join(sys.argv[1:])}`", "",
             "| scenario | actions | team | MADDPG (defaults) | n | random | scripted |", "|---|---|---|---:|---:|---:|---:|",
             *rows]
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scenarios.md").write_text(text)
    print(text)


def table_rows(scenario: str, kind: str, out: Path, seeds: int, eval_episodes: int,
               episodes: int | None = None) -> list[str]:
    """The scenario's rows: one a team, the finished seeds' mean and interval beside random and scripted play.
    A seed counts once its run has finished `episodes` (the default's 30000) at the defaults."""
    import numpy as np

    from envs import experts, teams
    from maddpg_gail.config import Config
    from maddpg_gail.evaluation import RandomPolicy, evaluate
    from maddpg_gail.reports import FINAL_EVAL_SEED, final_evaluation, mean_and_ci
    from maddpg_gail.sweeps import run_state

    config = Config(scenario=scenario, continuous_actions=kind == "continuous",
                    **({} if episodes is None else {"episodes": episodes}))
    env_kwargs = config.parallel_env_kwargs()
    sides = teams(scenario, env_kwargs)
    finals = [final_evaluation(out / f"maddpg__s{seed}", eval_episodes) for seed in range(seeds)
              if run_state(out / f"maddpg__s{seed}", dataclasses.replace(config, seed=seed)) == "finished"]
    random = evaluate(RandomPolicy(scenario, env_kwargs, seed=0), eval_episodes, FINAL_EVAL_SEED)
    scripted = {}
    for name, expert in experts.EXPERTS.items():
        if expert.scenario == scenario:
            scripted = evaluate(experts.make_expert(name, scenario, env_kwargs), eval_episodes, FINAL_EVAL_SEED)
            scripted = {"all": scripted.mean_sum, **scripted.mean_per_team}
    rows = []
    for team, members in (sides or {"all": random.agents}).items():
        learned = [sum(final["return_per_agent"][a] for a in members) for final in finals]
        if len(learned) >= 2:
            mean, low, high = mean_and_ci(learned)
            cell = f"{mean:.1f} [{low:.1f}, {high:.1f}]"
        else:
            cell = f"{np.mean(learned):.1f}" if learned else "not run"
        random_return = float(random.returns[:, [random.agents.index(a) for a in members]].sum(axis=1).mean())
        expert_cell = f"{scripted[team]:.1f}" if team in scripted else "none"
        rows.append(f"| {scenario} | {kind} | {team} | {cell} | {len(learned)} | {random_return:.1f} | "
                    f"{expert_cell} |")
    return rows


if __name__ == "__main__":
    main()
