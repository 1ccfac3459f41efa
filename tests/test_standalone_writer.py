"""examples/write_demonstrations.py, the standalone writer docs/imitation.md shows: run as a user runs it, its file
loads with the project's loader and both imitation commands train on it and evaluate."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from maddpg_gail.demonstrations import DIGEST_KEY, load_demonstrations

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "write_demonstrations.py"
ENV_KWARGS = {"N": 3, "max_cycles": 25, "continuous_actions": False}
EPISODES = 4
TINY_FLAGS = ["--num-envs", "2", "--hidden-sizes", "16,16", "--batch-size", "32", "--buffer-size", "2000",
              "--learning-starts", "64", "--update-every", "10", "--eval-interval", "6", "--eval-episodes", "2",
              "--save-interval", "6", "--device", "cpu"]


def test_the_script_imports_nothing_but_numpy_mpe2_and_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "mpe2"}


@pytest.fixture(scope="module")
def run_script(tmp_path_factory) -> tuple[Path, str]:
    """The script's own file, written as a user would run it: from another folder, the project not on the path;
    and what it printed."""
    folder = tmp_path_factory.mktemp("outside")
    result = subprocess.run([sys.executable, str(SCRIPT), "greedy.npz", "--episodes", str(EPISODES), "--seed", "5"],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return folder / "greedy.npz", result.stdout


@pytest.fixture(scope="module")
def written(run_script) -> Path:
    return run_script[0]


def test_its_file_loads_unchecked_by_digest_and_holds_the_episodes_it_played(run_script):
    written, printed = run_script
    with np.load(written, allow_pickle=False) as archive:
        assert DIGEST_KEY not in archive.files  # a file without a digest loads: none is checked
    demos = load_demonstrations(written, "simple_spread_v3", ENV_KWARGS)
    assert demos.source == f"examples/write_demonstrations.py: greedy to the nearest landmark, {EPISODES} episodes " \
                           f"from seed 5"
    assert demos.env_kwargs == ENV_KWARGS and demos.agents == ["agent_0", "agent_1", "agent_2"]
    assert np.array_equal(demos.episode_id, np.repeat(np.arange(EPISODES), 25))
    assert printed.startswith(f"greedy.npz: {EPISODES} episodes, mean return summed over agents ")
    # the rewards the rollout loop summed, as the loader's returns sum them
    assert demos.episode_returns().sum(axis=1).mean() == pytest.approx(float(printed.split()[-1]), abs=0.005)
    for agent in demos.agents:  # within an episode, each step's successor is the next step's observation
        same_episode = demos.episode_id[1:] == demos.episode_id[:-1]
        assert np.array_equal(demos.next_obs[agent][:-1][same_episode], demos.obs[agent][1:][same_episode])
        assert set(np.unique(demos.actions[agent])) <= set(range(5))
        assert len(np.unique(demos.actions[agent])) > 1  # it moves


@pytest.mark.parametrize("command", [["bc", "--epochs", "2", "--hidden-sizes", "16,16", "--eval-episodes", "2"],
                                     ["--reward", "gail", "--episodes", "12", *TINY_FLAGS]], ids=["bc", "gail"])
def test_bc_and_gail_train_on_its_file_and_evaluate(written, tmp_path, capsys, command):
    run_dir = tmp_path / "run"
    assert main.main([*command, "--demos", str(written), "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main.main(["evaluate", str(run_dir), "--episodes", "2"]) == 0
    score = capsys.readouterr().out.splitlines()[-1].split()
    expert = load_demonstrations(written).episode_returns().sum(axis=1).mean()
    assert score[:2] == ["normalized", "score"] and np.isfinite(float(score[2]))
    assert float(score[score.index("R_expert") + 1]) == pytest.approx(expert, abs=0.001)


def test_docs_show_the_scripts_writer_as_it_is():
    lines = (ROOT / "docs" / "imitation.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    def write_demonstrations("))
    shown = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        shown.append(line[4:])
    core = "\n".join(shown).strip("\n")
    assert len(core.splitlines()) <= 30 and core in SCRIPT.read_text()
