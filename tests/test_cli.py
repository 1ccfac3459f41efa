"""The command line refuses what it cannot do before it does anything: one line on stderr, exit 2, nothing written."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envs import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]


def cli(cwd: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `folder` with its size and modification time: any change shows."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def assert_one_line(result: subprocess.CompletedProcess, returncode: int, *fragments: str) -> str:
    assert result.returncode == returncode, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# (flags, what the one line must hold: the flag, the bad value and what is allowed)
USAGE_ERRORS = [
    (["--episodes", "0"], ["--episodes", "'0'", "a positive integer"]),
    (["--episodes", "-5"], ["--episodes", "'-5'", "a positive integer"]),
    (["--episodes", "abc"], ["--episodes", "'abc'", "a positive integer"]),
    (["--episodes", "1.5"], ["--episodes", "'1.5'", "a positive integer"]),
    (["--scenario", "simple_spreed_v3"], ["--scenario", "'simple_spreed_v3'", *SCENARIOS]),
    (["--critic", "central"], ["--critic", "'central'", "'centralized'", "'independent'"]),
    (["--seed", "-1"], ["--seed", "'-1'", "an integer in [0, 4294967295]"]),
    (["--seed", str(2**32)], ["--seed", f"'{2**32}'", "an integer in [0, 4294967295]"]),
    (["--max-cycles", "0"], ["--max-cycles", "'0'", "a positive integer"]),
    (["--tau", "0"], ["--tau", "'0'", "a number in (0, 1]"]),
    (["--tau", "1.5"], ["--tau", "'1.5'", "a number in (0, 1]"]),
    (["--gamma", "1"], ["--gamma", "'1'", "a number in [0, 1)"]),
    (["--gamma", "-0.1"], ["--gamma", "'-0.1'", "a number in [0, 1)"]),
    (["--gamma", "nan"], ["--gamma", "'nan'", "a number in [0, 1)"]),
    (["--actor-lr", "-0.001"], ["--actor-lr", "'-0.001'", "a number in (0, 1]"]),
    (["--critic-lr", "-1"], ["--critic-lr", "'-1'", "a number in (0, 1]"]),
    (["--batch-size", "4096", "--buffer-size", "2048"], ["--batch-size", "4096", "(2048 transitions", "no update"]),
    # 1000 rows are 896 in whole steps of 128 envs: fewer than the 1024 that the first update waits for
    (["--buffer-size", "1000"], ["--learning-starts", "1024", "(896 transitions", "--num-envs 128"]),
    (["--buffer-size", "1000", "--batch-size", "1000", "--learning-starts", "0"], ["--batch-size", "1000", "(896 "]),
    (["--num-envs", "0"], ["--num-envs", "'0'", "a positive integer"]),
    (["--env-kwargs", "M=4"], ["--env-kwargs", "'M'", "it accepts: N, local_ratio"]),
    (["--env-kwargs", "N=abc"], ["--env-kwargs", 'N="abc"', "cannot be interpreted as an integer"]),
    (["--env-kwargs", "local_ratio=7"], ["--env-kwargs", "local_ratio=7", "Must be between 0 and 1"]),
    (["--scenario", "simple_world_comm_v3", "--env-kwargs", "num_food=-1"], ["--env-kwargs", "num_food=-1"]),
    (["--env-kwargs", "max_cycles=50"], ["--env-kwargs", "max_cycles", "use --max-cycles"]),
    (["--env-kwargs", "N"], ["--env-kwargs", "'N'", "KEY=VALUE"]),
    (["--hidden-sizes", "64,0"], ["--hidden-sizes", "'64,0'", "positive layer sizes"]),
    (["--device", "tpu"], ["--device", "'tpu'", "'cpu'", "'cuda'"]),
    (["--resume", "run", "--overwrite"], ["--overwrite", "not allowed with argument --resume"]),
    (["--resume", "run", "--run-dir", "other"], ["--run-dir", "not allowed with argument --resume"]),
    (["--scenario", "simple_push_v3", "--discriminator-symmetries"],
     ["--discriminator-symmetries", "simple_push_v3", "simple_spread_v3, simple_speaker_listener_v4"]),
    (["--scenario", "simple_push_v3", "--bc-symmetries"],
     ["--bc-symmetries", "simple_push_v3", "simple_spread_v3, simple_speaker_listener_v4"]),
    (["--relabel-entities"], ["--relabel-entities", "needs --discriminator-symmetries or --bc-symmetries"]),
    (["--scenario", "simple_speaker_listener_v4", "--bc-symmetries", "--relabel-entities"],
     ["--relabel-entities", "defined for simple_spread_v3", "not simple_speaker_listener_v4"]),
    (["--env-kwargs", "num_landmark_neighbors=2", "--bc-symmetries", "--relabel-entities"],
     ["--bc-symmetries", "num_landmark_neighbors"]),
    (["--actor-inputs", "dist"], ["--actor-inputs", "'dist'", "'observation'", "'distances'"]),
    (["--scenario", "simple_speaker_listener_v4", "--actor-inputs", "distances"],
     ["--actor-inputs", "distances: defined for simple_spread_v3, not simple_speaker_listener_v4"]),
    (["--env-kwargs", "num_agent_neighbors=1", "--actor-inputs", "distances"],
     ["--actor-inputs", "num_agent_neighbors"]),
    (["--algorithm", "td3"], ["--algorithm", "'td3'", "'maddpg'", "'matd3'"]),
    (["--policy-delay", "3"], ["--policy-delay", "only --algorithm matd3 uses it"]),
    (["--continuous-actions", "--gradient-estimator", "gumbel_rao"],
     ["--gradient-estimator", "a gradient estimator of discrete actions: --continuous-actions has none"]),
    (["--gumbel-rao-samples", "4"], ["--gumbel-rao-samples", "only --gradient-estimator gumbel_rao uses it"]),
    (["--exploration-noise-start", "0.05"],
     ["--exploration-noise-start", "the exploration noise of continuous actions", "needs --continuous-actions"]),
]


@pytest.mark.parametrize("flags, fragments", USAGE_ERRORS, ids=[" ".join(flags) for flags, _ in USAGE_ERRORS])
def test_a_bad_flag_is_one_line_naming_flag_value_and_what_is_allowed_and_creates_nothing(tmp_path, flags, fragments):
    run_dir = [] if "--resume" in flags else ["--run-dir", "run"]
    result = cli(tmp_path, *flags, *run_dir)
    assert_one_line(result, 2, "main.py: error: argument ", *fragments)
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # neither the run folder nor runs/


def test_a_non_empty_run_dir_is_refused_without_resume_or_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    result = cli(tmp_path, "--episodes", "2", "--num-envs", "2", "--run-dir", "run")
    assert_one_line(result, 2, "--run-dir", "run exists and is not empty", "--resume or --overwrite")
    assert snapshot(tmp_path) == before


def test_resume_of_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    assert_one_line(cli(tmp_path, "--resume", "run"), 2, "--resume", "holds no config.json")


def test_resume_of_a_run_without_a_checkpoint_says_so(tmp_path, tiny_config):
    (tmp_path / "run").mkdir()
    tiny_config.save(tmp_path / "run" / "config.json")  # a run killed before its first checkpoint
    before = snapshot(tmp_path)
    result = cli(tmp_path, "--resume", "run")
    assert_one_line(result, 2, "--resume", "run has no checkpoint yet", "--overwrite")
    assert snapshot(tmp_path) == before


def test_resume_of_a_run_with_an_unreadable_config_says_so(run_copy):
    (run_copy / "config.json").write_text('{"scenario": "simple_spread_v3",')  # cut short
    before = snapshot(run_copy)
    result = cli(run_copy.parent, "--resume", "run")
    assert_one_line(result, 2, "--resume", "config.json: not a readable config (JSONDecodeError")
    assert snapshot(run_copy) == before


def test_resume_with_flags_disagreeing_with_the_recorded_config_says_which(run_copy):
    before = snapshot(run_copy)
    result = cli(run_copy.parent, "--resume", "run", "--critic", "independent", "--episodes", "20")
    assert_one_line(result, 2, "argument --critic", "'independent'", "recorded 'centralized'")
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("episodes", [[], ["--episodes", "12"], ["--episodes", "6"]],
                         ids=["as-recorded", "same", "fewer"])
def test_resume_of_a_finished_run_says_so_and_changes_nothing(run_copy, episodes):
    before = snapshot(run_copy)
    result = cli(run_copy.parent, "--resume", "run", *episodes)
    assert_one_line(result, 0, "nothing to train, its checkpoint has 12 episodes", "give --episodes above 12")
    assert result.stdout == "run: run\n"
    assert snapshot(run_copy) == before


def test_a_run_dir_under_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "results").write_text("a file, not a folder")
    result = cli(tmp_path, "--episodes", "2", "--num-envs", "2", "--run-dir", "results/run")
    assert_one_line(result, 2, "--run-dir", "results/run cannot be created: results is a file, not a folder")


def read_only(folder: Path) -> tuple[str, ...]:
    """A command prefix that runs a command with `folder` (and what it holds) mounted read-only.

    Folder permissions would not do: root, as in CI, writes through them. A user and mount namespace gives
    a real read-only mount without privileges, and it vanishes with the command.
    """
    prefix = ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(folder))
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("no unprivileged user namespaces here to mount a folder read-only")
    return prefix


def test_a_run_dir_in_a_read_only_folder_is_refused_before_training(tmp_path):
    (tmp_path / "shared").mkdir()
    result = cli(tmp_path, "--episodes", "2", "--num-envs", "2", "--run-dir", "shared/run", prefix=read_only(tmp_path / "shared"))
    assert_one_line(result, 2, "--run-dir", "shared/run cannot be written: shared: Read-only file system")


def test_resume_of_a_run_in_a_read_only_folder_is_refused_before_training(run_copy):
    before = snapshot(run_copy)
    result = cli(run_copy.parent, "--resume", "run", "--episodes", "20", prefix=read_only(run_copy))
    assert_one_line(result, 2, "--resume", "run/checkpoints cannot be written", "Read-only file system")
    assert snapshot(run_copy) == before


def test_evaluate_refuses_a_gif_path_it_cannot_write(run_copy):
    (run_copy.parent / "results").write_text("a file, not a folder")
    result = cli(run_copy.parent, "evaluate", "run", "--episodes", "1", "--gif", "results/episode.gif")
    assert_one_line(result, 2, "--gif", "results cannot be created: results is a file, not a folder")
    assert result.stdout == ""

