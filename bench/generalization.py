"""Generalization of imitation: MAGAIL and cloning at their defaults, on demonstrations of several expert families,
scored on evaluation episodes none of the demonstrations came from, normalized by random actions (0) and by that
expert (1) on those same episodes.

    python bench/generalization.py --scenario simple_spread_v3 --expert world
    python bench/generalization.py --scenario simple_spread_v3 --expert scripted --demo-episodes 20
    python bench/generalization.py --scenario simple_v3 --expert maddpg --continuous-actions
    python bench/generalization.py --scenario simple_v3 --expert world --episodes 200 --demo-episodes 4 -- \\
        --hidden-sizes 16,16 --batch-size 32                              # a smoke run: training flags after --

Expert families: `maddpg`, a default MADDPG run (`main.py --scenario S --seed N`, shared by every demo count);
`scripted`, `main.py collect --expert scripted` where the scenario has one; `world`, bench/world_experts.py,
experts written apart from the project that read the mpe2 world and write through the standalone writer.

Each (scenario, actions, expert, demo count) gets a folder under --out; each step is skipped when its output is
there, so an interrupted benchmark continues where it stopped:
1. demos.npz: --demo-episodes expert episodes from DEMONSTRATION_SEED (the episodes `main.py collect` plays);
2. compare/<...>/results.csv: `main.py compare --variants magail,bc` on them, --seeds seeds, training flags
   after `--` only (compare resumes its own unfinished runs); its final evaluation plays --eval-episodes
   episodes from the reports' seed (123);
3. expert_eval.npz: the expert on exactly those evaluation episodes (`main.py collect` plays the seeds
   `evaluate` does; the world experts their --eval-seeds);
4. compare/<...>/scores.csv and scores.md: per variant (per team in competitive scenarios, whose sum over all agents would
   mix the two sides' opposed rewards), the seeds' final returns and normalized scores
   (R - R_random) / (R_expert - R_random), mean with a 95% Student t interval over the seeds, beside the
   expert's and random's returns, and the training flags as typed ("defaults" where none). <out>/generalization.md
   and .csv gather the rows of every compare folder under --out, so runs with other flags keep theirs.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from maddpg_gail.cli import DEMONSTRATION_SEED, parse  # noqa: E402
from maddpg_gail.reports import FINAL_EVAL_SEED, mean_and_ci  # noqa: E402
from maddpg_gail.variants import difference_name  # noqa: E402

FAMILIES = ("maddpg", "scripted", "world")
VARIANTS = "magail,bc"
COLUMNS = ("scenario", "actions", "expert", "demo_episodes", "training", "variant", "team", "seeds", "return_mean",
           "return_ci_low", "return_ci_high", "normalized_mean", "normalized_ci_low", "normalized_ci_high",
           "expert_return", "random_return")


def python(script: Path, *args: str) -> None:
    """`python SCRIPT ARGS`; a failure or an interruption (exit 130) ends the benchmark with its code."""
    code = subprocess.run([sys.executable, str(script), *args], cwd=ROOT).returncode
    if code != 0:
        sys.exit(code)


def record_expert(args: argparse.Namespace, paths: Paths, episodes: int, seed: int, out: Path) -> None:
    """`episodes` greedy episodes of the expert into `out`, from the seeds `main.py evaluate --seed SEED` plays."""
    if args.expert == "world":
        python(ROOT / "bench" / "world_experts.py", "--scenario", args.scenario, *actions_flag(args), "--eval-seeds",
               "--episodes", str(episodes), "--seed", str(seed), "--out", str(out))
    elif args.expert == "scripted":
        python(ROOT / "main.py", "collect", "--expert", "scripted", "--scenario", args.scenario, *actions_flag(args),
               "--episodes", str(episodes), "--seed", str(seed), "--out", str(out))
    else:  # the default MADDPG run, trained on from its checkpoint, or saying it has nothing to do
        if (paths.expert_run / "config.json").exists():
            python(ROOT / "main.py", "--resume", str(paths.expert_run), "--episodes", str(args.expert_episodes))
        else:
            python(ROOT / "main.py", "--scenario", args.scenario, *actions_flag(args), "--seed", str(args.expert_seed),
                   "--episodes", str(args.expert_episodes), "--run-dir", str(paths.expert_run))
        python(ROOT / "main.py", "collect", str(paths.expert_run), "--episodes", str(episodes), "--seed", str(seed),
               "--out", str(out))


def actions_flag(args: argparse.Namespace) -> list[str]:
    return ["--continuous-actions"] if args.continuous_actions else []


@dataclass(frozen=True)
class Paths:
    """Where a benchmark folder keeps each step's output."""

    folder: Path  # one (scenario, actions, expert, demo count)
    expert_run: Path  # maddpg: the expert's run folder, shared by every demo count
    compare: Path  # the compare folder, named by its seeds, episodes and training flags

    @classmethod
    def of(cls, args: argparse.Namespace) -> Paths:
        env_name = args.scenario + ("__continuous" if args.continuous_actions else "")
        folder = args.out / f"{env_name}__{args.expert}__{args.demo_episodes}demos"
        flag_words = [difference_name(parse("train", args.training_flags))] if args.training_flags else []
        return cls(folder, args.out / f"{env_name}__maddpg_expert_s{args.expert_seed}_{args.expert_episodes}",
                   folder / "__".join([f"compare__{args.seeds}seeds_{args.episodes}episodes", *flag_words]))


def steps(args: argparse.Namespace, paths: Paths) -> list[tuple[Path, Callable[[], None]]]:
    """The benchmark's steps in order, each as (the output that says it is done, what makes it)."""
    demos = paths.folder / "demos.npz"
    return [
        (demos, lambda: record_expert(args, paths, args.demo_episodes, DEMONSTRATION_SEED, demos)),
        (paths.compare / "results.csv",  # written once every run has finished; compare resumes the others
         lambda: python(ROOT / "main.py", "compare", "--scenario", args.scenario, *actions_flag(args),
                        "--variants", VARIANTS, "--demos", str(demos), "--seeds", str(args.seeds),
                        "--episodes", str(args.episodes), "--workers", str(args.workers),
                        "--final-eval-episodes", str(args.eval_episodes), "--out", str(paths.compare),
                        *args.training_flags)),
        (paths.folder / "expert_eval.npz",
         lambda: record_expert(args, paths, args.eval_episodes, FINAL_EVAL_SEED, paths.folder / "expert_eval.npz")),
    ]


def run_steps(args: argparse.Namespace, paths: Paths) -> list[Path]:
    """Make the outputs that are missing, in order; returns them."""
    made = []
    for output, make in steps(args, paths):
        if not output.exists():
            make()
            made.append(output)
    return made


def final_returns(compare: Path, eval_episodes: int) -> tuple[dict[str, list[dict[str, float]]], Any]:
    """Each variant's runs in a finished compare folder: their final returns per agent (final_eval.json, on the
    evaluation episodes compare scored them on), variants in the project's order, seeds in theirs; and one run's
    config (their shared env)."""
    from maddpg_gail.reports import find_runs, load_run
    from maddpg_gail.variants import VARIANTS as KNOWN, base_variant

    runs = sorted((load_run(path, eval_episodes) for path in find_runs([compare])),
                  key=lambda r: (list(KNOWN).index(base_variant(r.variant)), r.variant, r.config.seed))
    by_variant: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run.final["return_per_agent"])
    return by_variant, runs[0].config


def score_rows(finals: dict[str, list[dict[str, float]]], expert: dict[str, float], random: dict[str, float],
               teams: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per variant and team: the seeds' returns summed over the team's agents and their normalized scores against
    `expert` and `random` (mean return per agent on the same episodes), each as mean and 95% t interval."""
    from maddpg_gail.evaluation import normalized_score

    rows = []
    for variant, seeds in finals.items():
        for team, members in teams.items():
            returns = [sum(final[a] for a in members) for final in seeds]
            r_expert, r_random = sum(expert[a] for a in members), sum(random[a] for a in members)
            row = {"variant": variant, "team": team, "seeds": len(returns), "expert_return": r_expert,
                   "random_return": r_random}
            for name, values in (("return", returns), ("normalized", normalized_score(returns, r_expert, r_random))):
                row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = mean_and_ci(values)
            rows.append(row)
    return rows


def cell(row: dict[str, Any], name: str) -> str:
    mean, low, high = (float(row[f"{name}_{k}"]) for k in ("mean", "ci_low", "ci_high"))
    return f"{mean:.2f}" if np.isnan(low) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["Normalized score (R - R_random) / (R_expert - R_random) of each variant's final greedy policies, the "
             "expert and random actions scored on the same evaluation episodes; mean over n seeds with its 95% "
             "Student t interval. Returns summed over the team's agents.", "",
             "| scenario | actions | expert | demos | training flags | variant | team | n | normalized | return | expert "
             "| random |",
             "|---|---|---|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['scenario']} | {row['actions']} | {row['expert']} | {row['demo_episodes']} | "
                     f"{row['training']} | {row['variant']} | {row['team']} | {row['seeds']} | {cell(row, 'normalized')} | "
                     f"{cell(row, 'return')} | {float(row['expert_return']):.2f} | {float(row['random_return']):.2f} |")
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict[str, Any]], stem: Path) -> None:
    """`stem`.csv and `stem`.md of these rows."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    stem.with_suffix(".md").write_text(markdown(rows))


def gather(out: Path) -> list[dict[str, Any]]:
    """The rows of every compare folder under `out` (one per benchmark folder and training flags), in folder order."""
    rows = []
    for path in sorted(out.glob("*/compare*/scores.csv")):
        with open(path, newline="") as file:
            rows += list(csv.DictReader(file))
    return rows


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="simple_spread_v3")
    parser.add_argument("--continuous-actions", action="store_true")
    parser.add_argument("--expert", choices=FAMILIES, default="world")
    parser.add_argument("--expert-seed", type=int, default=0, help="maddpg: the expert run's seed")
    parser.add_argument("--expert-episodes", type=int, default=30000, help="maddpg: the expert run's episodes")
    parser.add_argument("--demo-episodes", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_generalization")
    parser.add_argument("training_flags", nargs="*", help="after --: training flags for every imitation run")
    return parser.parse_args(argv)


def main() -> None:
    args = arguments(sys.argv[1:])
    paths = Paths.of(args)
    paths.folder.mkdir(parents=True, exist_ok=True)
    run_steps(args, paths)

    from envs import teams
    from maddpg_gail.demonstrations import load_demonstrations
    from maddpg_gail.evaluation import RandomPolicy, evaluate

    finals, config = final_returns(paths.compare, args.eval_episodes)
    env_kwargs = config.parallel_env_kwargs()
    played = load_demonstrations(paths.folder / "expert_eval.npz", args.scenario, env_kwargs)
    expert = dict(zip(played.agents, played.episode_returns().mean(axis=0)))
    # random actions as the reports score them: the same policy seed and episodes as compare's normalized score
    random = evaluate(RandomPolicy(args.scenario, env_kwargs, FINAL_EVAL_SEED), args.eval_episodes, FINAL_EVAL_SEED,
                      config.env_backend).mean_per_agent
    sides = teams(args.scenario, env_kwargs) or {"all": list(played.agents)}  # a team's sum; zero-sum-like apart
    context = {"scenario": args.scenario, "actions": "continuous" if args.continuous_actions else "discrete",
               "expert": args.expert, "demo_episodes": args.demo_episodes,
               "training": " ".join(args.training_flags) or "defaults"}
    rows = [{**context, **row} for row in score_rows(finals, expert, random, sides)]
    write_table(rows, paths.compare / "scores")
    write_table(gather(args.out), args.out / "generalization")
    print(markdown(rows))
    print(f"generalization: {paths.compare / 'scores.md'}; every folder's rows: {args.out / 'generalization.md'}")


if __name__ == "__main__":
    main()
