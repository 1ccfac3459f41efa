"""compare and report: variants, bootstrap intervals, reports from hand-written run folders, normalized scores,
resumed sweeps, imitation sweeps, Ray."""

import csv
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from maddpg_gail.checkpoint import load_checkpoint
from maddpg_gail.reports import FINAL_EVAL_SEED, find_runs, mean_and_ci, report, t_interval
from maddpg_gail.sweeps import run_state
from maddpg_gail.variants import VARIANTS, CompareError, parse_variants, variant_config, variant_of
from maddpg_gail.config import Config, ConfigError
from maddpg_gail.demonstrations import collect, save_demonstrations
from maddpg_gail.evaluation import RandomPolicy, evaluate
from envs.experts import ScriptedSpreadExpert
from maddpg_gail.trainer import train

ROOT = Path(__file__).resolve().parents[1]
AGENTS = ["agent_0", "agent_1", "agent_2"]
# tiny_config (conftest.py) as compare flags
TINY_FLAGS = ["--episodes", "12", "--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32",
              "--buffer-size", "2000", "--learning-starts", "64", "--update-every", "10", "--eval-interval", "6",
              "--eval-episodes", "2", "--save-interval", "6", "--device", "cpu", "--final-eval-episodes", "2",
              "--precision", "float32"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def read_results(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["variant"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def demos_path(tmp_path_factory) -> Path:
    """A few episodes of the scripted simple_spread_v3 expert."""
    expert = ScriptedSpreadExpert({"max_cycles": 25, "continuous_actions": False})
    path = tmp_path_factory.mktemp("demos") / "demos.npz"
    save_demonstrations(collect(expert, expert.scenario, expert.env_kwargs, episodes=8, seed=0), path)
    return path


def expert_return(demos_path: Path) -> float:
    """R_expert straight from the file: all rewards of all agents over the number of episodes."""
    with np.load(demos_path) as archive:
        total = sum(archive[key].astype(float).sum() for key in archive.files if key.startswith("rew/"))
        return total / len(np.unique(archive["episode_id"]))


def random_return() -> float:
    """Random actions on the final evaluation's 100 episodes, the zero of the normalized score."""
    config = Config()
    return evaluate(RandomPolicy(config.scenario, config.parallel_env_kwargs(), FINAL_EVAL_SEED), 100,
                    FINAL_EVAL_SEED).mean_sum


# --- variants ---------------------------------------------------------------------------------


def test_every_variants_config_reads_back_as_that_variant():
    base = Config(demos="demos.npz")
    for name in VARIANTS:
        assert variant_of(variant_config(base, name, seed=3), Path(name)) == name
    assert variant_config(base, "bc", 0).episodes == 0
    assert variant_config(base, "magail-centralized", 0).discriminator == "centralized"
    # Demonstrations used beyond what the variant itself does are named in the label; unused options are not.
    assert variant_of(Config(demos="demos.npz", bc_init=True), Path("run")) == "maddpg+bc-init"
    assert variant_of(Config(demos="demos.npz", reward="gail", bc_weight=0.5, actor_warmup_updates=100),
                      Path("run")) == "magail+bc-weight=0.5+warmup=100"
    assert variant_of(Config(demos="demos.npz", episodes=0, bc_weight=0.5), Path("run")) == "bc"
    assert variant_of(Config(demos="demos.npz", discriminator="centralized"), Path("run")) == "maddpg"
    # A run of `main.py bc`: no episodes, whatever its critic
    assert variant_of(Config(demos="demos.npz", episodes=0, critic="independent"), Path("run")) == "bc"
    with pytest.raises(CompareError, match="run: its config matches 0 of the variants"):
        variant_of(Config(critic="independent", reward="gail", demos="demos.npz"), Path("run"))


# --- t intervals ------------------------------------------------------------------------------


def test_t_interval_is_mean_plus_minus_t_times_the_standard_error():
    # [0, 1, 2, 3]: mean 1.5, s = 1.2910, t_0.975(3) = 3.1824, half width 3.1824 * 1.2910 / 2 = 2.0543
    mean, low, high = mean_and_ci([0.0, 1.0, 2.0, 3.0])
    assert (mean, low, high) == pytest.approx((1.5, -0.5543, 3.5543), abs=1e-4)
    # README's spread headline: MADDPG's three seeds; their own range [-34.49, -33.55] was the old "95% CI"
    assert mean_and_ci([-34.49, -33.55, -34.37]) == pytest.approx((-34.137, -35.408, -32.866), abs=1e-3)
    assert all(np.isnan(t_interval([3.0])))  # one seed: no interval


def test_t_interval_shrinks_with_more_seeds_and_of_curves_is_the_interval_at_each_point():
    values = np.random.default_rng(1).normal(10.0, 2.0, size=400)
    widths = [float(np.subtract(*t_interval(values[:n])[::-1])) for n in (5, 20, 80, 400)]
    assert widths == sorted(widths, reverse=True)
    curves = np.array([[0.0, 10.0, 5.0], [1.0, 11.0, 5.0], [2.0, 13.0, 5.0], [3.0, 17.0, 5.0]])  # [seeds, points]
    low, high = t_interval(curves)
    for point in range(3):
        assert (low[point], high[point]) == pytest.approx(tuple(map(float, t_interval(curves[:, point]))))
    assert (low[2], high[2]) == (5.0, 5.0)


# --- report from hand-written run folders -----------------------------------------------------


def fake_run(run_dir: Path, critic: str, seed: int, final_per_agent: list[float], curve: list[float],
             wall_time_s: float, scenario: str = "simple_spread_v3", **config: object) -> None:
    """A run folder as the trainer leaves it, less the checkpoint: config, metrics and a cached final evaluation.

    The curve is evaluated every 100 episodes; a behaviour-cloning run (episodes=0) has one point, at 0.
    """
    run_dir.mkdir(parents=True)
    config.setdefault("episodes", 100 * len(curve))  # a finished run: trained to its episodes
    Config(scenario=scenario, critic=critic, seed=seed, **config).save(run_dir / "config.json")
    evaluated_at = [0] if config.get("episodes") == 0 else [100 * i for i in range(1, len(curve) + 1)]
    fields = ["episodes", "env_steps", "updates", "wall_time_s", "train_return_sum", "eval_return_sum"]
    fields += [f"eval_return/{a}" for a in AGENTS]
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for i, (episodes, value) in enumerate(zip(evaluated_at, curve), 1):
            writer.writerow([episodes, 25 * episodes, episodes // 4, wall_time_s * i / len(curve), value - 5, value,
                             *[value / 3] * 3])
    final = {"eval_episodes": 100, "eval_seed": FINAL_EVAL_SEED, "trained_episodes": evaluated_at[-1],
             "return_sum": sum(final_per_agent), "return_per_agent": dict(zip(AGENTS, final_per_agent))}
    (run_dir / "final_eval.json").write_text(json.dumps(final))


FINALS = {  # variant -> seed -> final greedy return per agent
    "maddpg": {0: [-40.0, -41.0, -39.0], 1: [-45.0, -44.0, -46.0], 2: [-50.0, -50.0, -50.0]},
    "iddpg": {0: [-60.0, -61.0, -62.0], 1: [-55.0, -54.0, -53.0]},
}
CRITIC = {"maddpg": "centralized", "iddpg": "independent"}


def fake_compare_folder(root: Path) -> Path:
    for variant, seeds in FINALS.items():
        for seed, final in seeds.items():
            curve = [-200.0 + 10 * seed, -150.0, sum(final)]
            fake_run(root / f"{variant}__s{seed}", CRITIC[variant], seed, final, curve, wall_time_s=60.0 * (seed + 1))
    return root


def test_report_command_builds_table_curves_from_existing_run_folders(tmp_path):
    folder = fake_compare_folder(tmp_path / "compare")
    cached = {p: p.stat().st_mtime_ns for p in folder.glob("*/final_eval.json")}
    result = cli("report", str(folder))
    assert result.returncode == 0, result.stderr
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/final_eval.json")} == cached  # not recomputed

    rows = read_results(folder / "results.csv")
    assert list(rows) == ["maddpg", "iddpg"]  # the order of the variants table
    assert "normalized_score_mean" not in rows["maddpg"]  # no reference given
    for variant, seeds in FINALS.items():
        row = rows[variant]
        sums = [sum(final) for final in seeds.values()]
        mean, low, high = mean_and_ci(sums)
        assert int(row["seeds"]) == len(seeds) and row["episodes"] == "300"
        assert float(row["return_sum_mean"]) == pytest.approx(mean)
        assert (float(row["return_sum_ci_low"]), float(row["return_sum_ci_high"])) == pytest.approx((low, high))
        assert float(row["return/agent_1_mean"]) == pytest.approx(np.mean([f[1] for f in seeds.values()]))
        assert float(row["wall_time_s"]) == pytest.approx(60.0 * np.mean([s + 1 for s in seeds]))
    assert float(rows["maddpg"]["return_sum_ci_low"]) < float(rows["maddpg"]["return_sum_mean"])

    markdown = (folder / "results.md").read_text()
    assert "| maddpg | 3 | 300 | -135.00 [" in markdown and "| iddpg | 2 | 300 | -172.50 [" in markdown
    assert "] (n=3) |" in markdown and "] (n=2) |" in markdown and "| iddpg | 1 | -162.00 |" in markdown
    assert "Warning: maddpg, iddpg have fewer than 5 seeds" in markdown
    assert "no GIF" in markdown and not list(folder.glob("*.gif"))  # the fake runs have no checkpoint to render
    png = (folder / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_report_keeps_runs_started_from_or_leaning_on_demonstrations_in_rows_of_their_own(tmp_path):
    folder = fake_compare_folder(tmp_path / "compare")
    fake_run(folder / "bc_init__s0", "centralized", 0, [-30.0] * 3, [-90.0, -90.0], 60.0, demos="d.npz", bc_init=True)
    fake_run(folder / "bc_init__s1", "centralized", 1, [-36.0] * 3, [-90.0, -90.0], 60.0, demos="d.npz", bc_init=True)
    result = cli("report", str(folder))
    assert result.returncode == 0, result.stderr
    rows = read_results(folder / "results.csv")
    assert list(rows) == ["maddpg", "maddpg+bc-init", "iddpg"]
    assert int(rows["maddpg"]["seeds"]) == 3 and int(rows["maddpg+bc-init"]["seeds"]) == 2
    assert float(rows["maddpg+bc-init"]["return_sum_mean"]) == pytest.approx(-99.0)


def test_report_with_a_reference_adds_the_normalized_score(tmp_path):
    runs = fake_compare_folder(tmp_path / "compare")
    expert = tmp_path / "expert"
    fake_run(expert, "centralized", 7, [-20.0, -20.0, -20.0], [-100.0, -60.0], wall_time_s=10.0)
    report(sorted(runs.glob("maddpg__s*")), tmp_path / "out", reference=expert)
    random = random_return()
    assert -1000 < random < -60  # random actions lose to the expert by far
    scores = [(sum(final) - random) / (-60.0 - random) for final in FINALS["maddpg"].values()]
    row = read_results(tmp_path / "out" / "results.csv")["maddpg"]
    assert float(row["normalized_score_mean"]) == pytest.approx(np.mean(scores))
    assert float(row["normalized_score_ci_low"]) < float(row["normalized_score_mean"]) < 1.0
    assert "normalized score" in (tmp_path / "out" / "results.md").read_text()


IMITATION_FINALS = {  # variant -> seed -> final greedy return per agent
    "magail": {0: [-10.0, -11.0, -9.0], 1: [-12.0, -11.0, -13.0]},
    "magail-centralized": {0: [-9.0, -8.0, -10.0]},
    "bc": {0: [-8.0, -9.0, -7.0], 1: [-11.0, -11.0, -11.0]},
}
IMITATION_CONFIG = {  # variant -> the config fields that make it
    "magail": {"reward": "gail"},
    "magail-centralized": {"reward": "gail", "discriminator": "centralized"},
    "bc": {"episodes": 0},
}


def test_report_of_runs_trained_on_demonstrations_scores_them_against_the_expert(demos_path, tmp_path):
    for variant, seeds in IMITATION_FINALS.items():
        for seed, final in seeds.items():
            curve = [sum(final)] if variant == "bc" else [-90.0, sum(final)]
            fake_run(tmp_path / "runs" / f"{variant}__s{seed}", "centralized", seed, final, curve, wall_time_s=10.0,
                     demos=str(demos_path), **IMITATION_CONFIG[variant])
    report(find_runs([tmp_path / "runs"]), tmp_path / "out")  # no reference given: the runs' dataset is one

    expert, random = expert_return(demos_path), random_return()
    assert random < expert  # the scripted expert beats random actions
    rows = read_results(tmp_path / "out" / "results.csv")
    assert list(rows) == ["magail", "magail-centralized", "bc"]
    for variant, seeds in IMITATION_FINALS.items():
        scores = [(sum(final) - random) / (expert - random) for final in seeds.values()]
        assert float(rows[variant]["normalized_score_mean"]) == pytest.approx(np.mean(scores), rel=1e-6), variant
        assert 0 < np.mean(scores) < 1  # between random actions and the expert, as learned policies are
    assert rows["bc"]["episodes"] == "0" and rows["magail"]["episodes"] == "200"
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| variant | seeds | episodes | return (sum over agents) | normalized score |" in markdown
    assert f"reference = {expert:.2f} (R_expert, the mean return of the 8 expert episodes in {demos_path})" in markdown
    assert f"random = {random:.2f}" in markdown
    assert "| bc | 2 | 0 | -28.50 [" in markdown


def test_report_takes_demonstrations_given_to_it_and_prefers_a_reference_run(demos_path, tmp_path):
    maddpg_runs = sorted(fake_compare_folder(tmp_path / "compare").glob("maddpg__s*"))  # trained without demos
    report(maddpg_runs, tmp_path / "plain")
    assert "normalized_score_mean" not in read_results(tmp_path / "plain" / "results.csv")["maddpg"]

    report(maddpg_runs, tmp_path / "demos", demos=demos_path)
    expert, random = expert_return(demos_path), random_return()
    scores = [(sum(final) - random) / (expert - random) for final in FINALS["maddpg"].values()]
    row = read_results(tmp_path / "demos" / "results.csv")["maddpg"]
    assert float(row["normalized_score_mean"]) == pytest.approx(np.mean(scores), rel=1e-6)
    assert "R_expert" in (tmp_path / "demos" / "results.md").read_text()

    reference = tmp_path / "expert"
    fake_run(reference, "centralized", 7, [-20.0, -20.0, -20.0], [-100.0, -60.0], wall_time_s=10.0)
    report(maddpg_runs, tmp_path / "both", reference=reference, demos=demos_path)
    scores = [(sum(final) - random) / (-60.0 - random) for final in FINALS["maddpg"].values()]
    row = read_results(tmp_path / "both" / "results.csv")["maddpg"]
    assert float(row["normalized_score_mean"]) == pytest.approx(np.mean(scores))
    markdown = (tmp_path / "both" / "results.md").read_text()
    assert f"(the final return of the run {reference})" in markdown and "R_expert" not in markdown

    with pytest.raises(CompareError, match="no demonstrations file there"):
        report(maddpg_runs, tmp_path / "missing", demos=tmp_path / "missing.npz")


def test_report_refuses_two_runs_of_one_seed_and_runs_of_different_scenarios(tmp_path):
    fake_run(tmp_path / "a", "centralized", 0, [-1.0] * 3, [-3.0], wall_time_s=1.0)
    fake_run(tmp_path / "b", "centralized", 0, [-2.0] * 3, [-6.0], wall_time_s=1.0)
    fake_run(tmp_path / "c", "centralized", 1, [-2.0] * 3, [-6.0], wall_time_s=1.0, scenario="simple_v3")
    with pytest.raises(CompareError, match="two maddpg runs with seed 0"):
        report([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    with pytest.raises(CompareError, match="different environments"):
        report([tmp_path / "a", tmp_path / "c"], tmp_path / "out")


def test_compare_rejects_unknown_variants_and_flags_it_sets_itself():
    unknown = cli("compare", "--variants", "maddpg,gail")
    assert unknown.returncode == 2
    assert unknown.stderr == "main.py compare: error: argument --variants: unknown variant 'gail'; " \
                             "known: maddpg, iddpg, magail, magail-centralized, bc\n"
    seed = cli("compare", "--seed", "0")
    assert seed.returncode == 2 and seed.stderr == "main.py compare: error: argument --seed: compare sets it " \
                                                   "from --seeds\n"


def test_a_sweep_base_leaves_the_rules_across_fields_to_its_variants():
    # --relabel-entities adds to the symmetries that the imitation variants turn on by default; a base of
    # --reward env has none, yet only its variants run
    base = Config(relabel_entities=True, check_combinations=False)
    for name in ("magail", "bc"):
        imitating = variant_config(base.replace(demos="d.npz", check_combinations=False), name, 0)
        assert imitating.relabel_entities and (imitating.discriminator_symmetries or imitating.bc_symmetries)
    with pytest.raises(ConfigError, match="relabel_entities: it adds to the symmetries"):
        variant_config(base, "maddpg", 0)
    with pytest.raises(ConfigError, match="relabel_entities"):
        Config(relabel_entities=True)  # a run's config is checked in full


def test_compare_checks_relabelling_against_each_variant_not_against_the_base(demos_path, tmp_path):
    result = cli("compare", "--variants", "maddpg,bc", "--relabel-entities", "--demos", str(demos_path),
                 "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == "main.py compare: error: argument --variants: maddpg: relabel_entities: it adds to the " \
                            "symmetries, so it needs --discriminator-symmetries or --bc-symmetries\n"
    assert not (tmp_path / "out").exists()


def test_compare_of_imitation_variants_without_demos_is_a_usage_error(tmp_path):
    result = cli("compare", "--variants", "maddpg,magail,bc", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == "main.py compare: error: argument --variants: magail, bc need --demos DATASET.npz " \
                            "(e.g. from `main.py collect`)\n"
    assert not (tmp_path / "out").exists()


# --- sweeps -----------------------------------------------------------------------------------


def test_rerun_of_a_half_finished_sweep_keeps_finished_runs_and_completes_the_rest(tiny_config, tmp_path):
    out = tmp_path / "compare"
    finished, _ = train(dataclasses.replace(tiny_config, critic="centralized", seed=0), out / "maddpg__s0")
    partial, _ = train(dataclasses.replace(tiny_config, critic="independent", seed=0, episodes=6),
                       out / "iddpg__s0")
    leftover = out / "maddpg__s1"  # stopped before its first checkpoint: nothing to resume
    leftover.mkdir()
    (leftover / "metrics.csv").write_text("stale\n")
    kept = {p: p.stat().st_mtime_ns for p in [finished / "checkpoints" / "checkpoint.pt", finished / "metrics.csv"]}

    result = cli("compare", "--variants", "maddpg,iddpg", "--seeds", "2", *TINY_FLAGS, "--out", str(out),
                 "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:1] == ["maddpg__s0: kept (finished before)"]
    assert {"iddpg__s0: resumed", "maddpg__s1: trained", "iddpg__s1: trained"} <= set(result.stdout.splitlines())
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # the finished run was not retrained
    for name in ["maddpg__s0", "iddpg__s0", "maddpg__s1", "iddpg__s1"]:
        assert load_checkpoint(out / name / "checkpoints" / "checkpoint.pt")["counters"]["episodes"] == 12
        episodes = [line.split(",")[0] for line in (out / name / "metrics.csv").read_text().splitlines()]
        assert episodes == ["episodes", "0", "6", "12"], name  # evaluated before training, at 6 and 12
    rows = read_results(out / "results.csv")
    finals = [json.loads((out / f"iddpg__s{seed}" / "final_eval.json").read_text()) for seed in (0, 1)]
    assert all(f["eval_episodes"] == 2 and f["trained_episodes"] == 12 for f in finals)
    assert float(rows["iddpg"]["return_sum_mean"]) == pytest.approx(np.mean([f["return_sum"] for f in finals]))
    assert (out / "maddpg__best.gif").stat().st_size > 1000 and (out / "iddpg__best.gif").stat().st_size > 1000
    assert (out / "curves.png").is_file() and (out / "iddpg__s0" / "train.log").is_file()

    with pytest.raises(CompareError, match=r"trained with other settings \(num_envs 2, not 4\)"):
        run_state(out / "maddpg__s0", dataclasses.replace(tiny_config, num_envs=4, seed=0))


def test_sweep_of_imitation_variants_clones_trains_and_scores_them(demos_path, tmp_path):
    out = tmp_path / "compare"
    result = cli("compare", "--variants", "bc,magail", "--seeds", "1", "--demos", str(demos_path), *TINY_FLAGS,
                 "--bc-epochs", "3", "--out", str(out), "--workers", "1")
    assert result.returncode == 0, result.stderr
    assert {"bc__s0: trained", "magail__s0: trained"} <= set(result.stdout.splitlines())
    rows = read_results(out / "results.csv")
    assert list(rows) == ["magail", "bc"]
    assert rows["magail"]["episodes"] == "12" and rows["bc"]["episodes"] == "0"
    assert all(row["normalized_score_mean"] for row in rows.values())
    assert f"expert episodes in {demos_path}" in (out / "results.md").read_text()
    assert (out / "bc__best.gif").is_file() and (out / "bc__s0" / "final_eval.json").is_file()

    bc = Config.load(out / "bc__s0" / "config.json")
    assert variant_of(bc, out / "bc__s0") == "bc" and bc.demos == str(demos_path)
    assert run_state(out / "bc__s0", bc) == "finished"  # a rerun keeps it
    (out / "bc__s0" / "checkpoints" / "checkpoint.pt").unlink()
    assert run_state(out / "bc__s0", bc) == "missing"  # a rerun clones again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_sweep_runs_on_a_cluster_and_collects_the_run_folders(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    port = free_port()
    ray_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    log = tmp_path / "ray_head.log"
    with log.open("w") as log_file:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
             "--include-dashboard=false", f"--temp-dir={ray_dir}", "--object-store-memory=200000000"],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,  # its own group, to stop it whole
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        out = tmp_path / "compare"
        result = cli("compare", "--variants", "iddpg", "--seeds", "1", *TINY_FLAGS, "--out", str(out),
                     "--ray-address", f"127.0.0.1:{port}")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "iddpg__s0: trained" in result.stdout
        run_dir = out / "iddpg__s0"
        assert load_checkpoint(run_dir / "checkpoints" / "checkpoint.pt")["counters"]["episodes"] == 12
        assert (run_dir / "final_eval.json").is_file() and (run_dir / "train.log").is_file()
        assert list(run_dir.glob("events.out.tfevents.*"))
        assert read_results(out / "results.csv")["iddpg"]["seeds"] == "1"
        assert (out / "iddpg__best.gif").is_file()
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(ray_dir, ignore_errors=True)


def test_a_variant_that_sets_a_cloning_term_needs_demos_as_magail_does():
    # the rule is Config's (needing_demonstrations), asked of each variant with its overrides on top
    needing = [spec.name for spec in parse_variants(["maddpg bc_weight=0.5", "maddpg actor_lr=0.01",
                                                     "iddpg bc_init=true", "bc", "magail"], demos_given=False)
               if spec.needs_demos]
    assert needing == ["maddpg__bc_weight=0.5", "iddpg__bc_init=true", "bc", "magail"]
