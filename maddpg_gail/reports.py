"""Reports of run folders: out/results.md, results.csv, curves.png and <variant>__best.gif.

    report(run_dirs, out, ...)

A run's final greedy return is its final policy evaluated once on `final_eval_episodes` episodes that
start from FINAL_EVAL_SEED (the same episodes for every run, so variants meet identical starts), cached
in the run folder as final_eval.json. Intervals are Student t intervals of the mean over seeds, with n beside them.
The normalized score scales returns so that random actions score 0 and a reference 1: a reference run's
final return, or else R_expert, the mean return of the episodes of the demonstrations the runs learned from.

Changes here when what a report reads or shows changes.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from maddpg_gail import run_folder, trainer
from maddpg_gail.checkpoint import CHECKPOINT_NAME, CheckpointError, check_same_run, load_checkpoint
from maddpg_gail.files import atomic_path
from maddpg_gail.config import Config
from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations
from maddpg_gail.evaluation import RandomPolicy, evaluate, normalized_score, record_gif
from maddpg_gail.policy import load_policy
from maddpg_gail.variants import CompareError, VARIANTS, base_variant, typed, variant_of


FINAL_EVAL_NAME = "final_eval.json"


FINAL_EVAL_EPISODES = 100


FINAL_EVAL_SEED = 123


CONFIDENCE = 0.95


FEW_SEEDS = 5  # below this many seeds, results.md warns that the intervals are wide and rough


def t_interval(samples: Iterable[float] | np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Student t confidence interval of the mean over axis 0 (the seeds): mean -+ t_{n-1} * s / sqrt(n).

    Right for the 3-10 seeds of a sweep, where a bootstrap only spans the seeds' own range (3 seeds: their
    minimum and maximum). A 2-D input (points of a learning curve) gets the interval at each point.
    Fewer than two samples give nan: one seed says nothing about the spread between seeds.
    """
    from scipy import stats

    samples = np.asarray(samples, dtype=float)
    n = len(samples)
    if n < 2:
        return np.full(samples.shape[1:], np.nan), np.full(samples.shape[1:], np.nan)
    mean, sem = samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(n)
    half = stats.t.ppf((1 + confidence) / 2, df=n - 1) * sem
    return mean - half, mean + half


def mean_and_ci(values: Iterable[float]) -> tuple[float, float, float]:
    values = np.asarray(list(values), dtype=float)
    low, high = t_interval(values)
    return float(values.mean()), float(low), float(high)


def read_metrics(run_dir: Path, up_to: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """metrics.csv's evaluation points, greedy returns summed over agents, and training wall time;
    with `up_to`, only the points up to that many episodes (those of the policy the report evaluates).

    A run resumed from a checkpoint older than its last rows writes those episodes again; the later row wins.
    A last row cut short by a kill is left out.
    """
    path = run_dir / "metrics.csv"
    try:
        rows = {int(row["episodes"]): row for row in trainer.read_metrics_rows(path)
                if up_to is None or int(row["episodes"]) <= up_to}
        episodes = np.array(sorted(rows))
        returns = np.array([float(rows[e]["eval_return_sum"]) for e in episodes])
        wall_time_s = float(rows[episodes[-1]]["wall_time_s"]) if rows else 0.0
    except (ValueError, TypeError, KeyError) as error:  # a row edited or damaged in the middle
        raise CompareError(f"{path}: not a metrics file of this toolkit ({type(error).__name__}: {error})") from None
    if not rows:
        raise CompareError(f"{run_dir}: metrics.csv holds no evaluation yet")
    return episodes, returns, wall_time_s


def saved_progress(run_dir: Path) -> tuple[Config, int]:
    """The config and the episodes of the policy a report evaluates: its checkpoint's. A folder without one
    (its final evaluation cached, the checkpoint since removed) is taken at its config.json and metrics.csv."""
    recorded = run_folder.read_config(run_dir)
    checkpoint = run_dir / "checkpoints" / CHECKPOINT_NAME
    if not checkpoint.is_file():
        return recorded, int(read_metrics(run_dir)[0][-1])
    state = load_checkpoint(checkpoint)
    check_same_run(checkpoint, state, run_dir / run_folder.CONFIG_NAME)  # a checkpoint copied in from another run
    return Config.from_saved(state["config"]), int(state["counters"]["episodes"])


def final_evaluation(run_dir: Path, episodes: int = FINAL_EVAL_EPISODES,
                     progress: tuple[Config, int] | None = None) -> dict[str, Any]:
    """The greedy return of a run's final policy, evaluated once and cached in final_eval.json.

    The cache holds while the evaluation settings match and the run has not trained further since.
    `progress`: the run's `saved_progress`, when the caller has it already.
    """
    config, trained = progress or saved_progress(run_dir)
    settings = {"eval_episodes": episodes, "eval_seed": FINAL_EVAL_SEED, "trained_episodes": trained}
    path = run_dir / FINAL_EVAL_NAME
    if path.is_file():
        cached = json.loads(path.read_text())
        if all(cached.get(key) == value for key, value in settings.items()):
            return cached
    result = evaluate(load_policy(run_dir), episodes, FINAL_EVAL_SEED, config.env_backend)
    final = {**settings, "return_sum": result.mean_sum, "return_per_agent": result.mean_per_agent}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(final, indent=2) + "\n")
    return final


@dataclass
class Run:
    """A run folder as the report sees it."""

    path: Path
    config: Config
    variant: str
    episodes: np.ndarray  # evaluation points
    eval_returns: np.ndarray  # greedy evaluation return summed over agents, at those points
    wall_time_s: float
    final: dict[str, Any]  # final_eval.json
    trained: int  # episodes of the evaluated policy

    @property
    def finished(self) -> bool:
        return self.trained >= self.config.episodes


def load_run(path: Path, final_eval_episodes: int) -> Run:
    try:
        config, trained = saved_progress(path)
        # Rows after the checkpoint (written before a kill -9) belong to no policy the report can evaluate.
        episodes, eval_returns, wall_time_s = read_metrics(path, up_to=trained)
    except run_folder.RunFolderError as error:
        raise CompareError(str(error)) from None
    except OSError as error:
        raise CompareError(f"{path}: not a readable run folder ({type(error).__name__}: {error})") from None
    return Run(path, config, variant_of(config, path), episodes, eval_returns, wall_time_s,
               final_evaluation(path, final_eval_episodes, (config, trained)), trained)


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """The run folders among `paths`: each is a run folder (it holds config.json) or a folder of run folders."""
    runs = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            runs.append(path)
            continue
        inside = sorted(p.parent for p in path.glob("*/config.json"))
        if not inside:
            raise CompareError(f"{path}: neither a run folder (no config.json) nor a folder of run folders")
        runs += inside
    return runs


def default_report_dir(paths: list[Path], root: Path = Path("runs")) -> Path:
    """A single compare folder gets its report inside; anything else a new folder."""
    if len(paths) == 1 and not (paths[0] / "config.json").is_file():
        return paths[0]
    return root / f"report__{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_same_environment(runs: list[Run]) -> None:
    environments = {(r.config.scenario, json.dumps(r.config.parallel_env_kwargs(), sort_keys=True)) for r in runs}
    if len(environments) > 1:
        raise CompareError(f"the runs are on different environments: {'; '.join(' '.join(e) for e in environments)}")


# Fields that a variant's name already tells (its overrides, its "+bc-init" labels), or that differ by design.
NAMED_BY_VARIANT = {"seed", "critic", "reward", "discriminator", "bc_init", "bc_weight", "actor_warmup_updates",
                    "episodes"}


def name_by_config(runs: list[Run]) -> None:
    """Give each run the name of its group: runs are grouped by their whole config but the seed, so two configs
    never pool into one row. A group is named by its variant and by those of its other fields that differ from the
    defaults where the report's runs do not all share them (e.g. "maddpg actor_lr=0.001"; a flag given to every run
    names none). Across all the runs, not within a variant: "maddpg+bc-init algorithm=matd3" beside
    "maddpg+bc-init+warmup=6000" must not read as plain MADDPG because it is the only maddpg+bc-init run."""
    def key(run: Run) -> str:
        return json.dumps({k: v for k, v in run.config.to_dict().items() if k != "seed"}, sort_keys=True)

    every = [r.config.to_dict() for r in runs]
    varying = [k for k in every[0] if k not in NAMED_BY_VARIANT and len({json.dumps(c[k]) for c in every}) > 1]
    label_fields = tuple(NAMED_BY_VARIANT - {"seed"})
    by_variant: dict[str, list[Run]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    for run, config in zip(runs, every):
        # as the variant and its run folders are typed: algorithm=matd3 hidden_sizes=128,128
        # a MAGAIL run's symmetries are its recipe, and a bc-init run's those of the label's bc_init: no difference
        defaults = run.config.defaults(keep=label_fields)
        differences = [f"{k}={typed(config[k])}" for k in varying if config[k] != defaults[k]]
        run.variant = " ".join([run.variant, *differences])
    for members in by_variant.values():
        # a field told by the variant's name may still differ (e.g. episodes): never pool two configs
        labels: dict[str, set[str]] = {}
        for run in members:
            labels.setdefault(run.variant, set()).add(key(run))
        for label, keys in labels.items():
            if len(keys) > 1:
                for run in members:
                    if run.variant == label:
                        extra = [f"{k}={typed(v)}" for k, v in run.config.to_dict().items()
                                 if k in NAMED_BY_VARIANT - {"seed"} and k not in ("critic", "reward", "discriminator")
                                 and len({json.dumps(r.config.to_dict()[k]) for r in members
                                          if r.variant == label}) > 1]
                        run.variant = " ".join([label, *extra])


def check_distinct_seeds(runs: list[Run]) -> None:
    # Two runs of one seed would count as two seeds and narrow the interval.
    seen: dict[tuple[str, int], Path] = {}
    for run in runs:
        key = (run.variant, run.config.seed)
        if key in seen:
            raise CompareError(f"two {run.variant} runs with seed {run.config.seed}: {seen[key]} and {run.path}")
        seen[key] = run.path


def aligned_curves(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """Every run's evaluation returns on the evaluation points of the run that ends first.

    The runs of one sweep share their evaluation points, so this is exact for them; others are interpolated.
    """
    grid = min((r.episodes for r in runs), key=lambda e: e[-1])
    return grid, np.stack([np.interp(grid, r.episodes, r.eval_returns) for r in runs])


def summarize(variant: str, runs: list[Run], agents: list[str],
              normalization: tuple[float, float] | None) -> dict[str, Any]:
    """One row of results.csv: the final greedy returns of a variant's seeds, as mean and CI."""
    episodes = sorted({r.trained for r in runs})
    row: dict[str, Any] = {
        "variant": variant,
        "seeds": len(runs),
        "episodes": episodes[0] if len(episodes) == 1 else f"{episodes[0]}-{episodes[-1]}",
        "wall_time_s": round(float(np.mean([r.wall_time_s for r in runs])), 2),
    }
    columns = {"return_sum": [r.final["return_sum"] for r in runs]}
    if normalization is not None:
        columns["normalized_score"] = normalized_score(columns["return_sum"], *normalization)
    for agent in agents:
        columns[f"return/{agent}"] = [r.final["return_per_agent"][agent] for r in runs]
    for column, values in columns.items():
        row[f"{column}_mean"], row[f"{column}_ci_low"], row[f"{column}_ci_high"] = mean_and_ci(values)
    return row


def plot_curves(groups: dict[str, list[Run]], path: Path, scenario: str) -> None:
    # The Agg canvas draws without a display or pyplot's global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for variant, runs in groups.items():
        grid, curves = aligned_curves(runs)
        low, high = t_interval(curves)
        base = base_variant(variant)
        color = f"C{list(VARIANTS).index(base)}"  # a variant keeps its color across reports
        seeds = f"{len(runs)} seed{'s' if len(runs) > 1 else ''}"
        if VARIANTS[base].cloning:  # one evaluation, at 0 episodes: a level across the plot, not a curve
            axes.axhline(curves.mean(), color=color, linewidth=2, linestyle="--",
                         label=f"{variant} ({seeds}, no training episodes)")
            if not np.isnan(low[0]):
                axes.axhspan(low[0], high[0], color=color, alpha=0.2, linewidth=0)
            continue
        style = "-" if variant == base else "-."  # "+bc-init" and the like: the variant's color, dash-dotted
        axes.plot(grid, curves.mean(axis=0), color=color, linewidth=2, linestyle=style, label=f"{variant} ({seeds})")
        axes.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
    axes.set_title(f"{scenario}: greedy evaluation return, mean over seeds with 95% CI")
    axes.set_xlabel("training episodes")
    axes.set_ylabel("return summed over agents")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")


def best_gif(variant: str, runs: list[Run], out: Path) -> str:
    """The GIF of a variant's best seed (by final return) from FINAL_EVAL_SEED; returns a line for results.md."""
    best = max(runs, key=lambda r: r.final["return_sum"])
    path = out / f"{variant.replace(' ', '__')}__best.gif"
    try:
        record_gif(load_policy(best.path), path, seed=FINAL_EVAL_SEED)
    except CheckpointError as error:
        path.unlink(missing_ok=True)  # a GIF left from an earlier report would show another policy
        print(f"report: no GIF for {variant}: {error}", file=sys.stderr)
        return f"- {variant}: best seed {best.config.seed}; no GIF (its run folder has no checkpoint)"
    return f"- {variant}: best seed {best.config.seed}, [{path.name}]({path.name})"


def format_interval(row: dict[str, Any], column: str) -> str:
    mean, low, high = row[f"{column}_mean"], row[f"{column}_ci_low"], row[f"{column}_ci_high"]
    return f"{mean:.2f} (n=1)" if np.isnan(low) else f"{mean:.2f} [{low:.2f}, {high:.2f}] (n={row['seeds']})"


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def markdown(scenario: str, rows: list[dict[str, Any]], groups: dict[str, list[Run]], agents: list[str],
             final_eval_episodes: int, normalization_note: str | None, gif_lines: list[str]) -> str:
    normalized = normalization_note is not None
    header = ["variant", "seeds", "episodes", "return (sum over agents)"]
    if normalized:
        header.append("normalized score")
    header += agents + ["wall time per run"]
    lines = [
        f"# {scenario}: {' vs '.join(groups)}",
        "",
        f"Final greedy return of a run: its final policy evaluated on {final_eval_episodes} episodes starting "
        f"from seed {FINAL_EVAL_SEED} (the same episodes for every run). Each cell: mean over seeds "
        f"[{CONFIDENCE:.0%} CI, n seeds], a Student t interval of the mean over the n seeds; no interval with one "
        f"seed. Each row is one config: runs are grouped by their whole config but the seed, and a row is named "
        f"by how its config differs from the defaults. Wall time: one run's training time (summed over resumed "
        f"sessions; runs trained side by side share the cores).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        unfinished = sum(not r.finished for r in groups[row["variant"]])
        episodes = f"{row['episodes']} ({unfinished} unfinished)" if unfinished else str(row["episodes"])
        cells = [row["variant"], str(row["seeds"]), episodes, format_interval(row, "return_sum")]
        if normalized:
            cells.append(format_interval(row, "normalized_score"))
        cells += [format_interval(row, f"return/{a}") for a in agents] + [format_duration(row["wall_time_s"])]
        lines.append("| " + " | ".join(cells) + " |")
    few = [row["variant"] for row in rows if row["seeds"] < FEW_SEEDS]
    if few:
        lines += ["", f"Warning: {', '.join(few)} ha{'s' if len(few) == 1 else 've'} fewer than {FEW_SEEDS} seeds; "
                      f"with so few, the interval is wide and the t distribution's normality assumption untested."]
    if normalized:
        lines += ["", normalization_note]
    lines += ["", "Learning curves: [curves.png](curves.png). GIFs of each variant's best seed:", "", *gif_lines]
    lines += ["", "## Configs", "", f"Written by `{command_line()}` at commit {commit()}. Each group's config, as it "
              "differs from the defaults (`maddpg_gail/config.py`), the seed apart:", ""]
    defaults = Config().to_dict()
    for variant, runs in groups.items():
        differences = {k: v for k, v in runs[0].config.to_dict().items() if k != "seed" and v != defaults[k]}
        lines.append(f"- {variant}: `{json.dumps(differences, sort_keys=True)}`")
    lines += ["", "## Runs", "", "| variant | seed | final return | episodes | wall time | folder |",
              "|---|---|---|---|---|---|"]
    for variant, runs in groups.items():
        for r in runs:
            trained = str(r.trained) if r.finished else f"{r.trained} of {r.config.episodes} (unfinished)"
            lines.append(f"| {variant} | {r.config.seed} | {r.final['return_sum']:.2f} | {trained} "
                         f"| {format_duration(r.wall_time_s)} | {r.path} |")
    return "\n".join(lines) + "\n"


def command_line() -> str:
    """The command that is writing this report, as a user would type it."""
    words = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["report()"]
    return " ".join(words)


def commit() -> str:
    """The git commit of this code, with "+changes" for uncommitted edits; "unknown" outside a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:  # an interval that one seed cannot give is left empty
            writer.writerow({k: "" if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()})


def random_return(config: Config, episodes: int) -> float:
    """Uniformly random actions on the final evaluation's episodes: the zero of the normalized score."""
    policy = RandomPolicy(config.scenario, config.parallel_env_kwargs(), FINAL_EVAL_SEED)
    return evaluate(policy, episodes, FINAL_EVAL_SEED, config.env_backend).mean_sum


def find_normalization(runs: list[Run], final_eval_episodes: int, reference: Path | None,
                       demos: Path | str | None) -> tuple[tuple[float, float], str] | None:
    """(reference return, random return) and the line of results.md that says where they came from.

    The reference is the final return of the run `reference` when given; else R_expert, the mean over the
    episodes of the demonstrations of their return summed over agents: those of `demos`, or the ones every
    run was trained with. None when there is no reference.
    """
    config = runs[0].config
    if reference is not None:
        expert = load_run(Path(reference), final_eval_episodes)
        check_same_environment([runs[0], expert])
        reference_return, source = expert.final["return_sum"], f"the final return of the run {expert.path}"
    else:
        dataset, shared = demos, {r.config.demos for r in runs}
        if dataset is None and len(shared) == 1:
            dataset = shared.pop()  # None when the runs learned from no demonstrations
        if dataset is None:
            return None
        try:
            expert_demos = load_demonstrations(Path(dataset), config.scenario, config.parallel_env_kwargs())
        except DemonstrationsError as error:
            if demos is not None:  # asked for: an error; found in the runs' configs, it may have moved since
                raise CompareError(f"demonstrations for the normalized score: {error}") from None
            print(f"report: no normalized score: the runs' demonstrations do not load ({error})", file=sys.stderr)
            return None
        episode_returns = expert_demos.episode_returns().sum(axis=1)
        reference_return = float(episode_returns.mean())
        source = f"R_expert, the mean return of the {len(episode_returns)} expert episodes in {dataset}"
    random = random_return(config, final_eval_episodes)
    note = (f"Normalized score: (return - random) / (reference - random), with reference = {reference_return:.2f} "
            f"({source}) and random = {random:.2f} (uniformly random actions), on the same evaluation episodes.")
    return (reference_return, random), note


def report(run_dirs: list[Path], out: Path, final_eval_episodes: int = FINAL_EVAL_EPISODES,
           reference: Path | None = None, demos: Path | str | None = None) -> Path:
    """results.md, results.csv, curves.png and a GIF per variant in `out`, from existing run folders.

    A normalized score column comes with a reference run, or with demonstrations (`demos`, or the dataset
    all the runs were trained with); the reference run wins when there are both.
    """
    if not run_dirs:
        raise CompareError("no run folders to report")
    runs = [load_run(Path(d), final_eval_episodes) for d in run_dirs]
    check_same_environment(runs)
    name_by_config(runs)
    check_distinct_seeds(runs)
    order = list(VARIANTS)
    labels = sorted({r.variant for r in runs}, key=lambda v: (order.index(base_variant(v)), v))
    groups = {v: sorted((r for r in runs if r.variant == v), key=lambda r: r.config.seed) for v in labels}
    scenario = runs[0].config.scenario
    agents = list(runs[0].final["return_per_agent"])
    normalization, normalization_note = (find_normalization(runs, final_eval_episodes, reference, demos)
                                         or (None, None))
    rows = [summarize(v, group, agents, normalization) for v, group in groups.items()]
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "results.csv")
    plot_curves(groups, out / "curves.png", scenario)
    gif_lines = [best_gif(v, group, out) for v, group in groups.items()]
    text = markdown(scenario, rows, groups, agents, final_eval_episodes, normalization_note, gif_lines)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(text)
    return out / "results.md"
