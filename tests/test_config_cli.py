"""Experiments as configs: the Config checks itself, the CLI is generated from it, config files run, and a report
never pools two configs."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from maddpg_gail import cli
from maddpg_gail.reports import report
from maddpg_gail.variants import CompareError, parse_variants
from maddpg_gail.config import (ACTOR_LR, BC_EPOCHS, DEFAULT_NUM_ENVS, MAGAIL_ACTOR_LR, MAGAIL_BC_EPOCHS, Config,
                                 ConfigError)
from maddpg_gail.trainer import train

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("train", "evaluate", "collect", "bc", "compare", "report")


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exit_:  # usage errors exit, as a parser does
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("values, fragments", [
    ({"reward": "gial"}, ["reward", "'gial'", "'env', 'gail'"]),
    ({"episodes": -1}, ["episodes", "-1", "an integer >= 0"]),
    ({"gamma": 1.0}, ["gamma", "1.0", "[0, 1)"]),
    ({"hidden_sizes": (64, 0)}, ["hidden_sizes", "(64, 0)", "positive layer sizes"]),
    ({"seed": True}, ["seed", "True", "an integer in [0, 4294967295]"]),
    ({"reward": "gail"}, ["reward", "needs --demos"]),
    ({"bc_weight": 0.5}, ["bc_weight", "needs --demos"]),
    ({"env_kwargs": {"num_food": 2}}, ["env_kwargs", "'num_food'", "it accepts: N, local_ratio"]),
    ({"buffer_size": 100, "num_envs": 2}, ["learning_starts", "1024 is more than the replay buffer holds (100"]),
])
def test_a_config_refuses_a_bad_value_naming_field_value_and_what_is_allowed(values, fragments):
    with pytest.raises(ConfigError) as caught:
        Config(**values)
    assert caught.value.field == fragments[0] and isinstance(caught.value, ValueError)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_every_config_file_form_loads_and_an_old_runs_config_json_round_trips(tmp_path, finished_run):
    recorded = Config.load(finished_run / "config.json")
    assert json.loads(json.dumps(recorded.to_dict())) == json.loads((finished_run / "config.json").read_text())
    (tmp_path / "c.yaml").write_text("actor_lr: 1e-3\nhidden_sizes: [8, 8]\nnum_envs: 2\n")  # YAML 1.1: 1e-3 is a str
    config = Config.load(tmp_path / "c.yaml")
    assert (config.actor_lr, config.hidden_sizes, config.num_envs) == (1e-3, (8, 8), 2)
    (tmp_path / "bad.json").write_text('{"tau": 0}')
    with pytest.raises(ConfigError, match=r"tau: 0.0 is not a number in \(0, 1\]"):
        Config.load(tmp_path / "bad.json")


def test_help_lists_all_six_commands_each_with_one_line_and_a_mistyped_one_suggests_the_nearest(capsys):
    code, out, err = run_main(capsys, "--help")
    assert code == 0 and err == ""
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)
    code, out, err = run_main(capsys, "evalute", "run")
    assert code == 2 and err == "main.py: error: unknown command 'evalute'; did you mean 'evaluate'?\n"


def test_each_command_takes_only_its_own_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bc", "--help"])
    bc_help = capsys.readouterr().out
    assert "--bc-epochs" in bc_help and "--demos" in bc_help and "--critic" not in bc_help
    code, _, err = run_main(capsys, "evaluate", "run", "--critic", "independent")
    assert code == 2 and err.startswith("main.py evaluate: error: argument --critic: not a flag of evaluate")


# Mistakes tyro would report in a box of several lines: (argv, the one line's start after "error: argument ").
# A flag whose values may be many is followed by a bad one, so that without the check nothing trains.
WORD_ERRORS = [
    (["--episodes"], "--episodes: expected a value: a positive integer"),
    (["train", "--gamma"], "--gamma: expected a value: a number in [0, 1)"),
    (["--scenario"], "--scenario: expected a value: one of 'simple_v3'"),
    (["--run-dir"], "--run-dir: expected a value: a path"),
    (["--config"], "--config: expected a value: a path"),
    (["--resume"], "--resume: expected a value: a path"),
    (["--run-dir", "--overwrite"], "--run-dir: expected a value: a path"),
    (["--env-kwargs", "--episodes", "0"], "--env-kwargs: expected one or more values: KEY=VALUE options"),
    (["--continuous-actions=maybe"], "--continuous-actions: takes no value (given 'maybe'); use "
                                     "--continuous-actions or --no-continuous-actions"),
    (["--episodes", "5", "extra"], None),
    (["-x"], "-x: not a flag of train"),
    (["evaluate", "run", "--episodes"], "--episodes: expected a value: a positive integer"),
    (["evaluate", "run", "--seed"], "--seed: expected a value: an integer in [0, 4294967295]"),
    (["evaluate", "run", "--gif"], "--gif: expected a value: a path"),
    (["evaluate", "run", "--env-backend"], "--env-backend: expected a value: one of 'mpe2', 'batched'"),
    (["evaluate", "run", "--json=3"], "--json: takes no value (given '3'); use --json or --no-json"),
    (["evaluate", "a", "b"], "RUN_DIR_OR_CHECKPOINT: takes one, given 'a' and 'b'"),
    (["collect", "run", "--out"], "--out: expected a value: a path"),
    (["collect", "--expert"], "--expert: expected a value: a path"),
    (["collect", "run", "--stochastic=no"], "--stochastic: takes no value (given 'no')"),
    (["bc", "--epochs"], "--epochs: expected a value: a positive integer"),
    (["bc", "--demos"], "--demos: expected a value: a path"),
    (["bc", "--bc-lr"], "--bc-lr: expected a value: a number in (0, 1]"),
    (["compare", "--seeds"], "--seeds: expected a value: a positive integer"),
    (["compare", "--workers"], "--workers: expected a value: a positive integer"),
    (["compare", "--variants", "--seeds", "0"], "--variants: expected one or more values: see main.py compare --help"),
    (["report", "a", "--reference"], "--reference: expected a value: a path"),
    (["report", "a", "--final-eval-episodes"], "--final-eval-episodes: expected a value: a positive integer"),
    (["report", "a", "--out", "x", "b"], "RUN_DIR...: give them together, before or after the flags, not 'b' apart"),
]


@pytest.mark.parametrize("argv, expected", WORD_ERRORS, ids=[" ".join(argv) for argv, _ in WORD_ERRORS])
def test_a_flag_without_its_value_or_a_stray_word_is_one_line_naming_it(capsys, argv, expected):
    code, out, err = run_main(capsys, *argv)
    prog = f"main.py {argv[0]}" if argv[0] in COMMANDS[1:] else "main.py"
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    if expected is None:  # a word no flag takes, for a command without positional arguments
        assert err == "main.py: error: unexpected argument 'extra': train takes only flags; see main.py train --help\n"
    else:
        assert err.startswith(f"{prog}: error: argument {expected}"), err


def test_help_after_a_flags_value_is_still_help(capsys):
    for argv in (["evaluate", "run", "--episodes", "3", "--help"], ["--episodes", "5", "-h"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, typed", [(["--epochs", "0"], "--epochs"), (["--epochs=0"], "--epochs"),
                                         (["--bc-epochs", "0"], "--bc-epochs")])
def test_an_error_names_the_flag_as_typed_even_an_alias(capsys, argv, typed):
    code, _, err = run_main(capsys, "bc", *argv)
    assert code == 2 and err == f"main.py bc: error: argument {typed}: '0' is not a positive integer\n"


def test_every_config_field_has_a_train_flag_with_its_default_in_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(Config):
        assert "--" + f.name.replace("_", "-") in text, f.name
    assert "--exploration-noise-start FLOAT" in text and "(default: 0.3)" in text


def test_flags_parse_to_the_config_they_name():
    values = cli.parse("train", ["--hidden-sizes", "32", "32", "--env-kwargs", "N=4", "local_ratio=0.25",
                                 "--exploration-decay-episodes", "500", "--logits-regularization", "0",
                                 "--continuous-actions"])
    config = cli.make_config(values)
    assert config.hidden_sizes == (32, 32) and config.env_kwargs == {"N": 4, "local_ratio": 0.25}
    assert config.exploration_decay_episodes == 500 and config.logits_regularization == 0.0
    assert config.continuous_actions and cli.make_config(cli.parse("train", ["--hidden-sizes", "8,8"])).hidden_sizes \
        == (8, 8)


def test_train_with_a_finished_runs_config_json_and_flags_beside_it_runs(tmp_path, finished_run):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--config",
                             str(finished_run / "config.json"), "--seed", "1", "--episodes", "4",
                             "--run-dir", "again"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    config = Config.load(tmp_path / "again" / "config.json")
    assert config == dataclasses.replace(Config.load(finished_run / "config.json"), seed=1, episodes=4)


def test_a_yaml_config_runs_and_a_bad_one_is_one_line(tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text("num_envs: 2\nhidden_sizes: [8]\nbatch_size: 16\nbuffer_size: 400\n"
                                        "learning_starts: 32\nepisodes: 4\neval_interval: 2\neval_episodes: 1\n"
                                        "save_interval: 4\ndevice: cpu\nactor_lr: 1e-3\n")
    code, out, err = run_main(capsys, "--config", str(tmp_path / "tiny.yaml"), "--run-dir", str(tmp_path / "run"))
    assert code == 0, err
    assert Config.load(tmp_path / "run" / "config.json").actor_lr == 1e-3
    (tmp_path / "bad.yaml").write_text("reward: gial\n")
    code, out, err = run_main(capsys, "--config", str(tmp_path / "bad.yaml"), "--run-dir", str(tmp_path / "r2"))
    assert code == 2 and err == (f"main.py: error: argument --config: {tmp_path / 'bad.yaml'}: reward: 'gial' is not "
                                 f"one of 'env', 'gail'\n")
    assert not (tmp_path / "r2").exists()


def test_variants_are_names_overrides_comma_lists_or_a_yaml_file(tmp_path):
    specs = parse_variants(["maddpg,iddpg", "maddpg actor_lr=1e-3"], demos_given=False)
    assert [(s.base, s.overrides) for s in specs] == [("maddpg", ()), ("iddpg", ()), ("maddpg", (("actor_lr", 1e-3),))]
    assert specs[2].config(Config(), seed=2) == Config(actor_lr=1e-3, seed=2)
    (tmp_path / "study.yaml").write_text("- maddpg tau=0.05\n- iddpg\n")
    assert [s.name for s in parse_variants([str(tmp_path / "study.yaml")], False)] == ["maddpg__tau=0.05", "iddpg"]
    with pytest.raises(CompareError, match="'seed' is not a Config field a variant can set"):
        parse_variants(["maddpg seed=3"], False)


def test_a_variants_values_read_as_their_flags_read_them_and_name_its_folder_as_typed():
    spec, = parse_variants(["iddpg hidden_sizes=128,128 bc_init=true critic=independent"], demos_given=True)
    assert spec.overrides == (("hidden_sizes", (128, 128)), ("bc_init", True), ("critic", "independent"))
    assert spec.name == "iddpg__hidden_sizes=128,128__bc_init=true__critic=independent"  # no quote, no space
    assert spec.config(Config(demos="d.npz"), seed=0).hidden_sizes == (128, 128)
    with pytest.raises(CompareError, match=r"^'maddpg hidden_sizes=64,x': hidden_sizes: '64,x' is not comma-separated"):
        parse_variants(["maddpg hidden_sizes=64,x"], False)
    with pytest.raises(CompareError, match=r"'tau' is not FIELD=VALUE"):
        parse_variants(["maddpg tau"], False)


def test_a_variant_setting_a_bad_value_is_one_line_before_any_training(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "compare", "--variants", "maddpg", "maddpg tau=7",
                             "--out", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr == ("main.py compare: error: argument --variants: 'maddpg tau=7': tau: '7' is not a number "
                             "in (0, 1]\n")


def test_report_over_runs_differing_in_one_hyperparameter_gives_two_rows(tmp_path, tiny_config):
    for name, lr in (("a", tiny_config.actor_lr), ("b", 1e-3)):
        train(dataclasses.replace(tiny_config, actor_lr=lr, episodes=2, eval_interval=2, save_interval=2),
              tmp_path / name)
    text = report([tmp_path / "a", tmp_path / "b"], tmp_path / "out", final_eval_episodes=2).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| maddpg")]
    assert [row.split(" | ")[0] for row in rows[:2]] == ["| maddpg", "| maddpg actor_lr=0.001"]
    assert "(n=1)" in rows[0] and "Warning:" in text
    assert "at commit " in text and '- maddpg actor_lr=0.001: `{"actor_lr": 0.001, ' in text


def test_report_names_rows_and_gifs_by_values_as_typed(tmp_path, tiny_config):
    changed = dataclasses.replace(tiny_config, hidden_sizes=(16, 8), algorithm="matd3", episodes=2, eval_interval=2,
                                  save_interval=2)
    train(dataclasses.replace(changed, hidden_sizes=tiny_config.hidden_sizes, algorithm="maddpg"), tmp_path / "a")
    train(changed, tmp_path / "b")
    text = report([tmp_path / "a", tmp_path / "b"], tmp_path / "out", final_eval_episodes=2).read_text()
    assert "| maddpg algorithm=matd3 hidden_sizes=16,8 |" in text  # no quotes, no brackets: as the flag takes them
    assert (tmp_path / "out" / "maddpg__algorithm=matd3__hidden_sizes=16,8__best.gif").is_file()


def test_report_names_a_field_that_sets_a_row_apart_from_another_variants_rows(tmp_path, tiny_config):
    # each run is alone in its variant label ("maddpg", "maddpg+warmup=2"): matd3 must still show in its row's name
    short = dataclasses.replace(tiny_config, episodes=2, eval_interval=2, save_interval=2)
    train(dataclasses.replace(short, algorithm="matd3"), tmp_path / "a")
    train(dataclasses.replace(short, actor_warmup_updates=2), tmp_path / "b")
    text = report([tmp_path / "a", tmp_path / "b"], tmp_path / "out", final_eval_episodes=2).read_text()
    rows = [line.split(" | ")[0] for line in text.split("## Runs")[0].splitlines() if line.startswith("| maddpg")]
    assert rows == ["| maddpg algorithm=matd3", "| maddpg+warmup=2"]


def test_report_of_no_runs_says_so(tmp_path):
    with pytest.raises(CompareError, match="^no run folders to report$"):
        report([], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_console_script_points_at_the_cli_when_installed():
    from importlib import metadata

    try:
        scripts = metadata.distribution("maddpg-gail").entry_points
    except metadata.PackageNotFoundError:
        pytest.skip("maddpg-gail is not pip-installed here")
    assert {ep.name: ep.value for ep in scripts}["maddpg-gail"] == "maddpg_gail.cli:main"


def test_readme_stays_a_short_users_guide():
    assert (ROOT / "README.md").stat().st_size <= 20_000


def test_results_folders_keep_only_the_images_the_docs_show_and_every_link_resolves():
    import re

    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    shown = {(page.parent / target).resolve() for page in pages
             for target in re.findall(r"\]\(([^)#]+\.(?:gif|png))\)", page.read_text())}
    images = {p.resolve() for p in (ROOT / "docs" / "results").rglob("*") if p.suffix in (".gif", ".png")}
    assert images == shown  # nothing kept that no page shows, and nothing shown that is not there
    for page in [*pages, *(ROOT / "docs" / "results").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):  # every relative link, images or not
            assert (page.parent / target).exists(), f"{page}: {target}"


def test_a_study_folder_is_named_by_its_difference_from_the_defaults():
    from maddpg_gail.cli import parse
    from maddpg_gail.variants import difference_name

    assert difference_name(parse("train", [])) == "defaults"
    assert difference_name(parse("train", ["--bc-init", "--hidden-sizes", "128", "128", "--actor-lr", "1e-3"])) \
        == "hidden_sizes=128,128__actor_lr=0.001__bc_init=true"  # in the Config's order
    assert difference_name({"episodes": 30000, "hidden_sizes": [64, 64]}) == "defaults"  # a JSON list is the tuple
    assert difference_name({"episodes": 100000, "seed": 2}, but=("seed",)) == "episodes=100000"


def test_pyproject_dependencies_are_requirements_txt():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = [line for line in (ROOT / "requirements.txt").read_text().split() if not line.startswith("pytest")]
    assert project["dependencies"] == pinned
    assert project["scripts"]["maddpg-gail"] == "maddpg_gail.cli:main"


# --- the imitation recipe ---------------------------------------------------------------------

RECIPE_FIELDS = ("bc_init", "bc_weight", "actor_warmup_updates", "discriminator_symmetries", "bc_symmetries")


def recipe_of(config: Config) -> tuple:
    return tuple(getattr(config, name) for name in RECIPE_FIELDS)


def test_fields_left_unset_follow_the_recipe_for_the_kind_of_run():
    assert recipe_of(Config()) == (False, 0.0, 0, False, False)
    assert recipe_of(Config(demos="d.npz")) == (False, 0.0, 0, False, False)  # demos alone change nothing
    assert recipe_of(Config(reward="gail", demos="d.npz")) == (True, 3.0, 2000, True, True)
    # simple_reference_v3's observations have no plane symmetries defined: the rest of the recipe still holds
    assert recipe_of(Config(scenario="simple_reference_v3", reward="gail", demos="d.npz")) == (True, 3.0, 2000,
                                                                                              False, False)
    # a bc run (no episodes) clones on turned demonstrations; it trains no discriminator
    bc = Config(demos="d.npz", episodes=0)
    assert (bc.bc_symmetries, bc.discriminator_symmetries) == (True, False)
    # what is given stays, and what follows from it is worked out from the given value
    assert recipe_of(Config(reward="gail", demos="d.npz", bc_init=False)) == (False, 3.0, 0, True, True)
    assert recipe_of(Config(reward="gail", demos="d.npz", bc_init=False, bc_weight=0)) == (False, 0.0, 0, True, False)
    assert recipe_of(Config(demos="d.npz", bc_init=True)) == (True, 0.0, 2000, False, True)
    # cloning epochs: fewer for MAGAIL's clone start, whose cloning term trains on, than for a bc run's clone
    assert Config(reward="gail", demos="d.npz").bc_epochs == MAGAIL_BC_EPOCHS == 100
    assert bc.bc_epochs == Config(demos="d.npz", bc_init=True).bc_epochs == BC_EPOCHS == 1000
    assert Config(reward="gail", demos="d.npz", bc_epochs=50).bc_epochs == 50
    # the actors' learning rate: MAGAIL fine-tunes its clone start at a tenth of the rate of a run from scratch
    assert Config(reward="gail", demos="d.npz").actor_lr == MAGAIL_ACTOR_LR == 3e-4
    assert Config().actor_lr == Config(demos="d.npz", bc_init=True).actor_lr == ACTOR_LR == 3e-3
    assert Config(reward="gail", demos="d.npz", actor_lr=1e-3).actor_lr == 1e-3
    assert Config(demos="d.npz").replace(reward="gail").actor_lr == MAGAIL_ACTOR_LR  # a sweep's magail variant
    old = {**Config().to_dict(), "reward": "gail", "demos": "d.npz"}  # a config.json of before this default
    assert Config.from_saved(old).actor_lr == ACTOR_LR


def test_spread_imitation_gives_the_actors_the_assignment_by_default_and_relabels_nothing():
    def inputs(config: Config) -> tuple:
        return config.actor_inputs, config.relabel_entities

    assert inputs(Config()) == ("observation", False)
    assert inputs(Config(demos="d.npz")) == ("observation", False)
    assert inputs(Config(reward="gail", demos="d.npz")) == ("assignment", False)
    assert inputs(Config(demos="d.npz", episodes=0)) == ("assignment", False)  # a bc run
    assert inputs(Config(demos="d.npz", bc_init=True)) == ("assignment", False)  # MADDPG from a clone
    assert inputs(Config(reward="gail", demos="d.npz", bc_init=False, bc_weight=0)) == ("assignment", False)
    # the assignment tries every pairing: up to 5 agents; beyond, the distances alone
    assert inputs(Config(reward="gail", demos="d.npz", env_kwargs={"N": 5})) == ("assignment", False)
    assert inputs(Config(reward="gail", demos="d.npz", env_kwargs={"N": 6})) == ("distances", False)
    # defined for simple_spread_v3 with full observations only
    assert inputs(Config(scenario="simple_v3", reward="gail", demos="d.npz")) == ("observation", False)
    assert inputs(Config(reward="gail", demos="d.npz", env_kwargs={"num_agent_neighbors": 1})) == ("observation",
                                                                                                  False)
    # what is given stays
    assert inputs(Config(reward="gail", demos="d.npz", actor_inputs="observation")) == ("observation", False)
    old = {**Config().to_dict(), "reward": "gail", "demos": "d.npz"}  # a config.json of before this default
    assert inputs(Config.from_dict(old)) == ("observation", False)
    assert inputs(Config.from_dict({**old, "actor_inputs": "distances"})) == ("distances", False)  # and of before
    with pytest.raises(ConfigError, match="assignment: defined for up to 5 agents, not 6"):
        Config(reward="gail", demos="d.npz", env_kwargs={"N": 6}, actor_inputs="assignment").check_environment()
    assert Config().bc_epochs == 1000


def test_the_envs_stepped_together_are_the_default_or_the_episodes_where_fewer():
    assert Config().num_envs == DEFAULT_NUM_ENVS == 128
    assert Config(episodes=100).num_envs == 100  # never an episode more than a round of the envs asked for
    assert Config(episodes=0, demos="d.npz").num_envs == DEFAULT_NUM_ENVS  # cloning alone: no episodes
    assert Config(episodes=100, num_envs=8).num_envs == 8  # given: kept
    assert Config(episodes=100).replace(episodes=30000).num_envs == DEFAULT_NUM_ENVS  # worked out again
    old = {**Config().to_dict(), "num_envs": 32}  # a config.json of before this default
    assert Config.from_dict(old).num_envs == 32
    assert json.loads(json.dumps(Config(episodes=50).to_dict()))["num_envs"] == 50  # saved as the int it ran with


def test_an_old_runs_config_with_every_field_keeps_its_values_and_replace_works_the_recipe_out_again():
    old = {**Config().to_dict(), "reward": "gail", "demos": "d.npz"}  # a config.json of before the recipe
    assert recipe_of(Config.from_dict(old)) == (False, 0.0, 0, False, False)
    base = Config(demos="d.npz")
    assert recipe_of(base.replace(reward="gail")) == (True, 3.0, 2000, True, True)
    assert recipe_of(base.replace(reward="gail", bc_weight=0.5)) == (True, 0.5, 2000, True, True)
    assert recipe_of(Config.from_dict(old).replace(reward="env")) == (False, 0.0, 0, False, False)  # given: kept


def test_a_recipe_switch_not_given_is_unset_and_its_no_flag_turns_it_off(tmp_path):
    def made(*argv: str, defaults=None) -> Config:
        return cli.make_config(cli.parse("train", list(argv), defaults))

    assert recipe_of(made("--reward", "gail", "--demos", "d.npz")) == (True, 3.0, 2000, True, True)
    assert recipe_of(made("--reward", "gail", "--demos", "d.npz", "--no-bc-init", "--no-bc-symmetries")) == (
        False, 3.0, 0, True, False)
    assert recipe_of(made("--demos", "d.npz", "--bc-init", "--discriminator-symmetries", "--reward", "gail")) == (
        True, 3.0, 2000, True, True)
    # a config file's value is a default the flags start from; one it leaves out follows the recipe
    assert made("--reward", "gail", "--demos", "d.npz", defaults={"bc_init": False}).bc_init is False
    assert made("--reward", "gail", "--demos", "d.npz", defaults={"tau": 0.05}).bc_init is True


def test_a_sweeps_magail_variant_gets_the_recipe_and_is_named_without_it():
    from maddpg_gail.variants import variant_config, variant_of

    magail = variant_config(Config(demos="d.npz"), "magail", seed=0)
    assert recipe_of(magail) == (True, 3.0, 2000, True, True)
    assert variant_of(magail, Path("run")) == "magail"
    assert variant_of(magail.replace(bc_init=False), Path("run")) == "magail+no-bc-init"
    assert recipe_of(variant_config(Config(demos="d.npz"), "maddpg", seed=0)) == (False, 0.0, 0, False, False)


@pytest.mark.parametrize("name, value", [("exploration_noise_start", 0.05), ("exploration_noise_end", 0.0),
                                         ("exploration_decay_episodes", 500)])
def test_exploration_noise_fields_are_refused_with_discrete_actions(name, value):
    """Discrete actions explore by sampling the policy: a noise setting would change nothing, silently."""
    with pytest.raises(ConfigError, match=f"^{name}: the exploration noise of continuous actions"):
        Config(**{name: value})
    assert getattr(Config(continuous_actions=True, **{name: value}), name) == value
