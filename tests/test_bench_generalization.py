"""bench/generalization.py: the normalized table from hand-made returns, and the steps that resume an interrupted
benchmark (each skipped once its output is there, the missing ones made in order)."""

from pathlib import Path

import pytest

from bench import generalization
from maddpg_gail.cli import DEMONSTRATION_SEED

T_975_2 = 4.302652729911275  # Student t quantile 0.975 at 2 degrees of freedom (3 seeds), from a table


def test_normalized_scores_and_their_interval_per_team():
    finals = {"magail": [{"a": -10.0, "b": -10.0}, {"a": -12.0, "b": -12.0}, {"a": -14.0, "b": -14.0}],
              "bc": [{"a": -25.0, "b": -5.0}, {"a": -25.0, "b": -5.0}]}
    expert, random = {"a": -5.0, "b": -5.0}, {"a": -25.0, "b": -25.0}
    rows = generalization.score_rows(finals, expert, random, {"all": ["a", "b"], "good": ["b"]})
    assert [(r["variant"], r["team"], r["seeds"]) for r in rows] == [
        ("magail", "all", 3), ("magail", "good", 3), ("bc", "all", 2), ("bc", "good", 2)]
    magail = rows[0]
    # returns -20, -24, -28 between random -50 and the expert -10: scores 0.75, 0.65, 0.55, standard deviation 0.1
    assert (magail["expert_return"], magail["random_return"]) == (-10.0, -50.0)
    assert magail["return_mean"] == pytest.approx(-24.0)
    assert magail["normalized_mean"] == pytest.approx(0.65)
    half = T_975_2 * 0.1 / 3 ** 0.5
    assert (magail["normalized_ci_low"], magail["normalized_ci_high"]) == pytest.approx((0.65 - half, 0.65 + half))
    assert (magail["return_ci_low"], magail["return_ci_high"]) == pytest.approx((-24 - 40 * half, -24 + 40 * half))
    # team "good" alone: agent b's -10, -12, -14 between -25 and -5
    assert rows[1]["normalized_mean"] == pytest.approx(0.65) and rows[1]["expert_return"] == -5.0
    assert rows[3]["normalized_mean"] == pytest.approx(1.0)  # bc's b plays as the expert, its a as random
    assert rows[2]["normalized_mean"] == pytest.approx(0.5)


def test_the_tables_gather_the_rows_of_every_compare_folder(tmp_path):
    finals = {"bc": [{"a": -10.0}, {"a": -30.0}, {"a": -20.0}]}
    rows = generalization.score_rows(finals, {"a": -10.0}, {"a": -50.0}, {"all": ["a"]})
    # two experts, and one of them also with other training flags: each compare folder keeps its rows
    for expert, compare, training in (("world", "compare__3seeds", "defaults"), ("scripted", "compare__3seeds",
                                      "defaults"), ("world", "compare__3seeds__bc_epochs=5", "--bc-epochs 5")):
        context = {"scenario": "simple_v3", "actions": "discrete", "expert": expert, "demo_episodes": 100,
                   "training": training}
        generalization.write_table([{**context, **row} for row in rows],
                                   tmp_path / f"simple_v3__{expert}" / compare / "scores")
    gathered = generalization.gather(tmp_path)
    assert [(row["expert"], row["training"]) for row in gathered] == [
        ("scripted", "defaults"), ("world", "defaults"), ("world", "--bc-epochs 5")]
    table = generalization.markdown(gathered)
    half = T_975_2 * 0.25 / 3 ** 0.5  # scores 1, 0.5, 0.75
    interval = f"0.75 [{0.75 - half:.2f}, {0.75 + half:.2f}]"
    assert f"| simple_v3 | discrete | world | 100 | --bc-epochs 5 | bc | all | 3 | {interval} |" in table


@pytest.fixture
def commands(monkeypatch):
    """The scripts the benchmark would run, each faked by writing the output its arguments name."""
    calls = []

    def fake(script: Path, *args: str) -> None:
        calls.append((script.name, args))
        if "--out" not in args:  # training an expert
            return
        out = Path(args[args.index("--out") + 1])
        out = out / "results.csv" if args[0] == "compare" else out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")

    monkeypatch.setattr(generalization, "python", fake)
    return calls


def test_a_first_run_makes_every_step_in_order(tmp_path, commands):
    args = generalization.arguments(["--scenario", "simple_v3", "--expert", "world", "--out", str(tmp_path)])
    paths = generalization.Paths.of(args)
    assert generalization.run_steps(args, paths) == [paths.folder / "demos.npz", paths.compare / "results.csv",
                                                    paths.folder / "expert_eval.npz"]
    demos, compare, evaluation = commands
    assert demos[0] == "world_experts.py" and "--eval-seeds" in demos[1]  # the episodes `collect` would play
    assert demos[1][demos[1].index("--seed") + 1] == str(DEMONSTRATION_SEED)
    assert compare[1][:7] == ("compare", "--scenario", "simple_v3", "--variants", "magail,bc", "--demos",
                              str(paths.folder / "demos.npz"))
    assert compare[1][compare[1].index("--final-eval-episodes") + 1] == "200"
    assert evaluation[0] == "world_experts.py"  # the expert on the evaluation episodes of compare's reports
    assert [evaluation[1][evaluation[1].index(flag) + 1] for flag in ("--seed", "--episodes")] == ["123", "200"]


def test_an_interrupted_run_makes_only_its_missing_steps(tmp_path, commands):
    args = generalization.arguments(["--scenario", "simple_spread_v3", "--expert", "scripted", "--out", str(tmp_path),
                                     "--", "--hidden-sizes", "16,16"])
    paths = generalization.Paths.of(args)
    paths.folder.mkdir(parents=True)
    (paths.folder / "demos.npz").write_text("")  # recorded before the interruption; compare was not finished
    assert generalization.run_steps(args, paths) == [paths.compare / "results.csv", paths.folder / "expert_eval.npz"]
    assert [call[1][0] for call in commands] == ["compare", "collect"]
    assert commands[0][1][-2:] == ("--hidden-sizes", "16,16") and "hidden_sizes=16,16" in paths.compare.name
    commands.clear()
    assert generalization.run_steps(args, paths) == [] and commands == []  # all done: nothing runs again


def test_the_maddpg_expert_trains_once_then_resumes(tmp_path, commands):
    args = generalization.arguments(["--scenario", "simple_v3", "--expert", "maddpg", "--out", str(tmp_path)])
    paths = generalization.Paths.of(args)
    generalization.record_expert(args, paths, 100, DEMONSTRATION_SEED, paths.folder / "demos.npz")
    assert commands[0][1][-2:] == ("--run-dir", str(paths.expert_run)) and commands[1][1][0] == "collect"
    (paths.expert_run / "config.json").parent.mkdir(parents=True)
    (paths.expert_run / "config.json").write_text("{}")
    commands.clear()
    generalization.record_expert(args, paths, 200, 123, paths.folder / "expert_eval.npz")
    assert commands[0][1][:2] == ("--resume", str(paths.expert_run))
    assert commands[1][1] == ("collect", str(paths.expert_run), "--episodes", "200", "--seed", "123", "--out",
                              str(paths.folder / "expert_eval.npz"))
