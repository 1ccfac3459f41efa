"""bench/scenarios.py: the per-scenario table counts finished default runs, per team, beside random and scripted."""

import dataclasses

from bench.scenarios import table_rows
from maddpg_gail.config import Config
from maddpg_gail.reports import final_evaluation
from maddpg_gail.trainer import train


def test_a_row_per_team_with_the_scripted_expert_where_there_is_one(tmp_path):
    rows = table_rows("simple_spread_v3", "discrete", tmp_path / "none", seeds=3, eval_episodes=4)
    assert len(rows) == 1 and rows[0].startswith("| simple_spread_v3 | discrete | all | not run | 0 | -")
    assert not rows[0].endswith("| none |")  # the scripted spread expert's return
    rows = table_rows("simple_tag_v3", "continuous", tmp_path / "none", seeds=3, eval_episodes=4)
    assert [row.split(" | ")[2] for row in rows] == ["adversaries", "good"] and rows[0].endswith("| none |")


def test_finished_runs_count_and_their_mean_is_the_final_evaluations(tmp_path):
    config = Config(scenario="simple_v3", episodes=256)  # the defaults but the episodes: as the table counts them
    for seed in (0, 1):
        train(dataclasses.replace(config, seed=seed), tmp_path / f"maddpg__s{seed}")
    # one round of the default envs where two are asked for: unfinished, left out
    train(dataclasses.replace(config, seed=2, episodes=config.num_envs), tmp_path / "maddpg__s2")
    (row,) = table_rows("simple_v3", "discrete", tmp_path, seeds=3, eval_episodes=4, episodes=256)
    finals = [final_evaluation(tmp_path / f"maddpg__s{seed}", 4)["return_sum"] for seed in (0, 1)]
    cells = row.split(" | ")
    assert cells[3].startswith(f"{sum(finals) / 2:.1f} [") and cells[4] == "2"
