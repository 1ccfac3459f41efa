"""The maddpg-gail command line, generated from the Config by tyro: parse, check, dispatch.

    maddpg-gail [train] [--config FILE] [--episodes 30000 ...]    train (MADDPG by default)
    maddpg-gail evaluate RUN_DIR_OR_CHECKPOINT                     greedy evaluation, optional GIF
    maddpg-gail collect RUN_DIR_OR_CHECKPOINT --out demos.npz      expert demonstrations (or --expert scripted)
    maddpg-gail bc --demos demos.npz                               behaviour cloning
    maddpg-gail compare --variants maddpg iddpg "maddpg actor_lr=1e-3" --seeds 5    sweep, then report
    maddpg-gail report RUN_DIR...                                  results table, curves and GIFs of runs

Each subcommand's flags are the fields of one dataclass: the Config fields it uses (their help, default and
allowed values come from maddpg_gail/config.py) plus the command's own fields below. Adding a flag to a
command is one field in its dataclass. Usage errors are one line, `PROG: error: argument --FLAG: ...`, exit 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable

from maddpg_gail.config import (MAX_SEED, POSITIVE, RECIPE, Config, ConfigError, Flag, Integer, LayerSizes,
                                Options, OptionalPath, Real, flag, read_config_file, setting)

RUN_FAILED = 1
USAGE_ERROR = 2
INTERRUPTED = 130
DEMONSTRATION_SEED = 1_000_000  # distinct from the default seeds of evaluate (0) and compare (123)
CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(Config))


class UsageError(Exception):
    """A command line that cannot run. Not a ValueError, so that tyro passes it through untouched."""

    def __init__(self, label: str, message: str):
        super().__init__(f"argument {label}: {message}" if label else message)
        self.label, self.message = label, message


def fail(label: str, message: str):
    raise UsageError(label, message)


def like(cls: type, name: str) -> Any:
    """A field with the default, help and rule of `cls`'s field `name`, for another command's flags."""
    f = cls.__dataclass_fields__[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory
    return setting(default, f.metadata["help"], f.metadata["rule"])


# --- the commands' own flags --------------------------------------------------------------------------------

@dataclass
class TrainFlags:
    config: str | None = setting(None, "a JSON or YAML file of Config fields, e.g. a run's config.json; flags "
                                       "given beside it override it", OptionalPath())
    run_dir: str | None = setting(None, "output folder (default runs/<scenario>__<critic>__s<seed>__<time>)",
                                  OptionalPath())
    resume: str | None = setting(None, "continue a run from its last checkpoint (flags must agree with its "
                                       "config.json; --episodes may extend it)", OptionalPath())
    overwrite: bool = setting(False, "replace an existing non-empty --run-dir", Flag())
    # a Config of 0 episodes is a bc run's record; training needs at least one
    episodes: int = setting(Config.__dataclass_fields__["episodes"].default, "episodes to train", POSITIVE)


# The Config fields a behaviour-cloning run uses: the env, the actors, the cloning and the final evaluation.
BC_FIELDS = ("scenario", "env_kwargs", "max_cycles", "continuous_actions", "num_envs", "env_backend", "hidden_sizes",
             "actor_inputs", "seed", "device", "eval_episodes", "demos", "bc_epochs", "bc_batch_size", "bc_lr",
             "bc_symmetries", "relabel_entities")


@dataclass
class BcFlags:
    config: str | None = like(TrainFlags, "config")
    run_dir: str | None = setting(None, "output folder (default runs/<scenario>__bc__s<seed>__<time>)",
                                  OptionalPath())
    overwrite: bool = setting(False, "replace an existing non-empty --run-dir", Flag())


@dataclass
class EvaluateFlags:
    path: str = setting("", "RUN_DIR_OR_CHECKPOINT: a run folder or a checkpoint file", OptionalPath())
    episodes: int = setting(100, "greedy episodes", POSITIVE)
    seed: int = setting(0, "seed of the first episode", Integer(0, MAX_SEED))
    gif: str | None = setting(None, "also write the first evaluated episode as a GIF here", OptionalPath())
    json: bool = setting(False, "print returns per episode and agent, seeds and summary as JSON", Flag())
    env_backend: str = like(Config, "env_backend")


@dataclass
class CollectFlags:
    path: str | None = setting(None, "RUN_DIR_OR_CHECKPOINT: the policy to record (greedy by default)",
                               OptionalPath())
    expert: str | None = setting(None, "record a scripted expert instead: scripted (simple_spread_v3)", OptionalPath())
    out: str | None = setting(None, "DATASET.npz to write (required)", OptionalPath())
    overwrite: bool = setting(False, "replace an existing --out", Flag())
    episodes: int = setting(100, "episodes to record", POSITIVE)
    seed: int = setting(DEMONSTRATION_SEED, f"seeds the episodes (default {DEMONSTRATION_SEED}: no evaluation uses "
                                            "it, so imitation policies are never evaluated on the episodes they "
                                            "learned from)", Integer(0, MAX_SEED))
    stochastic: bool = setting(False, "sample the policy's actions (Gumbel-softmax, Gaussian noise)", Flag())
    env_backend: str = like(Config, "env_backend")


# The env of a scripted expert; a policy plays the one it was trained on.
EXPERT_ENV_FIELDS = ("scenario", "env_kwargs", "max_cycles", "continuous_actions")


@dataclass
class ReportFlags:
    paths: tuple[str, ...] = setting((), "RUN_DIR...: run folders, or compare folders of them", OptionalPath())
    out: str | None = setting(None, "default: the compare folder when given one, else runs/report__<time>",
                              OptionalPath())
    final_eval_episodes: int = setting(100, "episodes of each run's final greedy evaluation", POSITIVE)
    reference: str | None = setting(None, "a run (e.g. the expert) scoring 1 in a normalized score column; random "
                                          "actions score 0. Without it the runs' demonstrations give R_expert",
                                    OptionalPath())
    demos: str | None = setting(None, "expert demonstrations whose mean return scores 1 in the normalized score "
                                      "column (default: the dataset all the runs were trained with)", OptionalPath())


@dataclass
class CompareFlags:
    config: str | None = like(TrainFlags, "config")
    variants: tuple[str, ...] = setting((), "variants: names (maddpg iddpg magail magail-centralized bc), a name "
                                            "with overrides (\"maddpg actor_lr=1e-3\"), comma-separated names, or a "
                                            "YAML file of them (default: all, or without --demos those that need "
                                            "no demonstrations)", OptionalPath())
    seeds: int = setting(5, "N runs seeds 0..N-1 of each variant", POSITIVE)
    out: str | None = setting(None, "compare folder (default runs/compare__<scenario>__<time>); rerun with the "
                                    "same --out to resume", OptionalPath())
    final_eval_episodes: int = like(ReportFlags, "final_eval_episodes")
    reference: str | None = like(ReportFlags, "reference")
    workers: int | None = setting(None, f"runs in parallel on this machine (default: the number of cores, "
                                        f"{os.cpu_count()})", Integer(1))
    ray_address: str | None = setting(None, "run each pair as a Ray task on this cluster, or auto", OptionalPath())


# Config fields that compare sets itself, and what to use instead.
SET_BY_COMPARE = {
    "critic": "compare sets it from --variants",
    "reward": "compare sets it from --variants",
    "discriminator": "compare sets it from --variants",
    "seed": "compare sets it from --seeds",
    "run_dir": "compare writes its runs under --out",
    "resume": "rerun compare with the same --out to resume",
    "overwrite": "choose another --out",
}


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line summary, its own flags, the Config fields it takes, and why it refuses others."""

    summary: str
    run: Callable[[str, dict[str, Any]], int]
    own: type
    config_fields: tuple[str, ...] = ()
    positional: tuple[str, ...] = ()
    refused: Callable[[str], str | None] = lambda name: None  # the reason a known flag is not taken here
    aliases: tuple[tuple[str, str], ...] = ()  # (alias, field)


# --- from dataclass fields to tyro ------------------------------------------------------------------------

def metavar(rule: Any) -> str:
    return {Integer: "INT", Real: "FLOAT", LayerSizes: "INT[,INT...]", Options: "KEY=VALUE",
            OptionalPath: "PATH"}.get(type(rule)) or "{" + ",".join(rule.values) + "}"


def value_of(name: str, rule: Any, texts: list[str]) -> Any:
    """The value of flag `name` from its command-line words, checked against its rule; UsageError if it fails."""
    if isinstance(rule, Options):
        try:
            return rule.parse_pairs(texts)
        except ConfigError as error:
            fail(flag(name), error.message)
    text = ",".join(texts) if isinstance(rule, LayerSizes) else texts[0] if texts else ""
    value = rule.parse(text)
    if not rule.ok(value):
        fail(flag(name), f"{text!r} is not {rule.allowed}")
    return value


def words_taken(f: dataclasses.Field) -> int | str:
    """How many command-line words a field's flag takes: 0 (a switch), 1, or "*" (any number)."""
    rule = f.metadata["rule"]
    if isinstance(rule, Flag):
        return 0
    # several words: KEY=VALUE options, layer sizes (64 64, or 64,64), and lists such as report's run folders
    many = isinstance(rule, (Options, LayerSizes)) or isinstance(f.default, tuple)
    return "*" if many else 1


def tyro_field(name: str, f: dataclasses.Field, default: Any, positional: bool, aliases: tuple[str, ...]):
    """One field of a generated flags dataclass: its type annotated with how tyro parses and shows it."""
    import tyro
    from tyro.constructors import PrimitiveConstructorSpec

    rule, help_text = f.metadata["rule"], f.metadata["help"]
    many = words_taken(f) == "*"
    recipe = default is None and name in RECIPE  # its help says what it defaults to
    if isinstance(rule, Flag):
        annotation: Any = bool
        if recipe:
            default = False  # a switch; `parse` tells a switch not given from --no-FLAG
    else:
        def show(value: Any) -> list[str]:
            if isinstance(value, dict):
                return [f"{k}={v}" for k, v in value.items()] or ["none"]
            if isinstance(value, tuple):
                return [",".join(map(str, value))] if isinstance(rule, LayerSizes) else list(value)
            return ["none"] if value is None else [str(value)]

        spec = PrimitiveConstructorSpec(
            nargs="*" if many else 1, metavar=metavar(rule),
            instance_from_str=(lambda texts: tuple(texts)) if many and isinstance(rule, OptionalPath)
            else (lambda texts: value_of(name, rule, texts)),
            is_instance=lambda value: True, str_from_instance=show)
        annotation = Annotated[Any, spec]
    if positional:
        annotation = tyro.conf.Positional[annotation]
    annotation = Annotated[annotation, tyro.conf.arg(help=help_text, aliases=aliases or None,
                                                     help_behavior_hint="" if recipe else None)]
    if isinstance(default, dict):
        return name, annotation, dataclasses.field(default_factory=lambda: dict(default))
    return name, annotation, dataclasses.field(default=default)


def flags_class(command: str, spec: Command, defaults: dict[str, Any]) -> type:
    config_fields = {f.name: f for f in dataclasses.fields(Config)}
    own = {f.name: f for f in dataclasses.fields(spec.own)}
    fields = {**{name: config_fields[name] for name in spec.config_fields if name not in own}, **own}
    aliases = dict((field_name, alias) for alias, field_name in spec.aliases)
    made = []
    for name, f in fields.items():
        default = defaults.get(name, f.default if f.default is not dataclasses.MISSING else f.default_factory())
        made.append(tyro_field(name, f, default, name in spec.positional,
                               (aliases[name],) if name in aliases else ()))
    return dataclasses.make_dataclass(f"{command.title()}Flags", made)


def known_flags(command: str, spec: Command) -> set[str]:
    names = {*spec.config_fields, *(f.name for f in dataclasses.fields(spec.own))} - set(spec.positional)
    bools = {n for n in names if isinstance(field_metadata(n, spec)["rule"], Flag)}
    return ({flag(n) for n in names} | {"--no-" + flag(n)[2:] for n in bools}
            | {alias for alias, _ in spec.aliases} | {"-h", "--help"})


def field_metadata(name: str, spec: Command):
    own = {f.name: f for f in dataclasses.fields(spec.own)}
    return (own.get(name) or Config.__dataclass_fields__[name]).metadata


def check_flags(command: str, spec: Command, argv: list[str]) -> None:
    """Every --flag must be one of this command's: else one line saying why, or which flag was meant."""
    known = known_flags(command, spec)
    given = [word.split("=", 1)[0] for word in argv if word.startswith("--") and word != "--"]
    unknown = [word for word in given if word not in known]
    if not unknown:
        return
    names = {word[2:].replace("-", "_"): word for word in unknown}
    reasons = {name: spec.refused(name) for name in names if name in CONFIG_FIELDS or name in
               {f.name for f in dataclasses.fields(TrainFlags)}}
    refused = {name: reason for name, reason in reasons.items() if reason}
    if refused:
        by_reason: dict[str, list[str]] = {}
        for name, reason in sorted(refused.items()):
            by_reason.setdefault(reason, []).append(flag(name))
        reason, flags = next(iter(by_reason.items()))
        fail(", ".join(flags), reason)
    word = unknown[0]
    near = difflib.get_close_matches(word, sorted(known), n=1)
    fail(word, f"not a flag of {command}" + (f"; did you mean {near[0]}?" if near else
                                             f"; see main.py {command} --help"))


def looks_like_flag(word: str) -> bool:
    """What tyro reads as a flag rather than a value: a dash word that is not a number (-5 is a value)."""
    if not word.startswith("-"):
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def check_words(command: str, spec: Command, argv: list[str]) -> None:
    """Each flag has the values it takes, and each other word is a positional argument the command has:
    checked here, so that these mistakes are one line rather than tyro's box of several."""
    own = {f.name: f for f in dataclasses.fields(spec.own)}
    fields = {**{n: Config.__dataclass_fields__[n] for n in spec.config_fields if n not in own}, **own}
    by_word = {flag(n): n for n in fields} | {"--no-" + flag(n)[2:]: n for n in fields
                                              if words_taken(fields[n]) == 0}
    by_word |= {alias: name for alias, name in spec.aliases}
    positional_runs: list[list[str]] = []  # words in a row that no flag took
    i, after_flag, flags_end = 0, True, False
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--" and not flags_end:
            flags_end = True
            continue
        if flags_end or not looks_like_flag(word):
            if after_flag:
                positional_runs.append([])
            positional_runs[-1].append(word)
            after_flag = False
            continue
        if word in ("-h", "--help"):
            return  # help wins over what follows, as in tyro
        after_flag = True
        typed, has_value, value = word.partition("=")
        if typed not in by_word:  # a single-dash word: check_flags has refused any unknown --word
            fail(typed, f"not a flag of {command}; see main.py {command} --help")
        f = fields[by_word[typed]]
        taken = words_taken(f)
        if taken == 0:
            if has_value:
                positive = flag(f.name)
                fail(typed, f"takes no value (given {value!r}); use {positive} or --no-{positive[2:]}")
        elif not has_value:
            if i == len(argv) or looks_like_flag(argv[i]):
                rule = f.metadata["rule"]
                if not isinstance(rule, OptionalPath):
                    allowed = rule.allowed
                else:  # a file name, or words such as compare's variants that only the help describes
                    allowed = "a path" if taken == 1 else f"see main.py {command} --help"
                fail(typed, f"expected {'one or more values' if taken == '*' else 'a value'}: {allowed}")
            i += 1
            while taken == "*" and i < len(argv) and not looks_like_flag(argv[i]):
                i += 1
    words = [word for run in positional_runs for word in run]
    if not spec.positional:
        if words:
            fail("", f"unexpected argument {words[0]!r}: {command} takes only flags; see main.py {command} --help")
        return
    name = spec.positional[0]
    what = field_metadata(name, spec)["help"].split(":")[0]
    if words_taken(own[name]) == 1 and len(words) > 1:
        fail(what, f"takes one, given {words[0]!r} and {words[1]!r}")
    if len(positional_runs) > 1:
        fail(what, f"give them together, before or after the flags, not {positional_runs[1][0]!r} apart")


def given_value(argv: list[str], name: str) -> str | None:
    """The value of --name in argv before parsing, for the flags that choose the defaults (--config, --resume)."""
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def config_values(path: str, label: str = "--config") -> dict[str, Any]:
    """The Config fields a config file sets, checked: a bad file is a usage error naming it."""
    if not Path(path).is_file():
        fail(label, f"{path}: no such file")
    try:
        values = read_config_file(Path(path))
        config = Config.from_dict(values)
    except ConfigError as error:
        fail(label, f"{path}: {error}")
    except ValueError as error:  # not JSON or YAML
        fail(label, f"{path} is not a readable config ({' '.join(str(error).split())})")
    return {key: getattr(config, key) for key in values}  # as the Config holds them: [64, 64] is (64, 64)


def parse(command: str, argv: list[str], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """This command's flags as a dict, on top of `defaults` (e.g. a --config file's fields)."""
    import tyro

    spec = COMMANDS[command]
    check_flags(command, spec, argv)
    check_words(command, spec, argv)
    cls = flags_class(command, spec, defaults or {})
    prog = "main.py" if command == "train" else f"main.py {command}"
    parsed = tyro.cli(cls, args=argv, prog=prog, description=spec.summary)
    values = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)}
    for name in set(values) & set(RECIPE):  # a recipe switch neither given nor set by `defaults` stays unset
        if (defaults or {}).get(name) is None and not any(word in (flag(name), "--no-" + flag(name)[2:])
                                                          for word in argv):
            values[name] = None
    return values


def make_config(values: dict[str, Any], check_combinations: bool = True) -> Config:
    """The Config of these flags; a value it cannot take is a usage error naming its flag."""
    try:
        return Config(**{k: v for k, v in values.items() if k in CONFIG_FIELDS}, check_combinations=check_combinations)
    except ConfigError as error:
        fail(error.label, error.message)


def check_environment(config: Config) -> None:
    """The checks that need the env built and this machine's device and memory: before any folder is made (or an
    old run overwritten)."""
    from maddpg_gail.budget import BudgetError, check_run_fits
    from maddpg_gail.trainer import resolve_device

    try:
        config.check_environment()
        resolve_device(config.device)
        check_run_fits(config)
    except ConfigError as error:
        fail(error.label, error.message)
    except BudgetError as error:
        fail(error.flag, str(error))
    except ValueError as error:  # resolve_device's
        fail("--device", str(error))


def check_writable(label: str, folder: Path) -> None:
    """Find an unwritable destination now, not at the first checkpoint, hours into training."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        fail(label, f"{folder} cannot be created: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()  # permissions alone miss read-only disks and root's rights
    except OSError as error:
        fail(label, f"{folder} cannot be written: {existing}: {error.strerror}")


def error_line(prog: str, error: BaseException) -> None:
    print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)


# --- train ------------------------------------------------------------------------------------------------

def run_train(argv: list[str]) -> int:
    resume, config_file = given_value(argv, "--resume"), given_value(argv, "--config")
    if resume is not None:
        for other in ("--overwrite", "--run-dir", "--config"):
            if any(word == other or word.startswith(other + "=") for word in argv):
                fail(other, "not allowed with argument --resume (a run resumes in its own folder, with its config)")
        return resume_run(Path(resume), argv)
    values = parse("train", argv, config_values(config_file) if config_file else None)
    config = make_config(values)
    check_environment(config)

    from maddpg_gail import run_folder, trainer  # torch loads only once the arguments are known good

    run_dir = Path(values["run_dir"]) if values["run_dir"] else trainer.default_run_dir(config)
    check_writable("--run-dir", run_dir)

    def start() -> tuple[Path, bool]:
        with run_folder.new_run(run_dir, values["overwrite"]):  # refuses a folder in use, or not a run to overwrite
            return trainer.train(config, run_dir)

    return train_or_resume(start, run_dir)


def resume_run(resume_dir: Path, argv: list[str]) -> int:
    """Flags given with --resume must agree with the run's recorded config; --episodes may extend it."""
    from maddpg_gail import run_folder
    from maddpg_gail.checkpoint import CHECKPOINT_NAME

    config_path = resume_dir / "config.json"
    if not config_path.is_file():
        fail("--resume", f"{resume_dir} holds no config.json; it is not a run folder")
    try:
        recorded_config = run_folder.read_config(resume_dir)
    except run_folder.RunFolderError as error:
        fail("--resume", str(error))
    if not (resume_dir / "checkpoints" / CHECKPOINT_NAME).is_file():
        fail("--resume", f"{resume_dir} has no checkpoint yet (it stopped before its first save); start it again "
                         f"with --run-dir {resume_dir} --overwrite")
    if recorded_config.episodes == 0:
        fail("--resume", not_for_bc("resume"))
    check_writable("--resume", resume_dir / "checkpoints")
    recorded = recorded_config.to_dict()
    values = parse("train", argv, recorded)
    from maddpg_gail import trainer

    for key in recorded_config.differences(values):
        if key == "device" and trainer.same_device(values[key], recorded[key]):  # cpu for a run recorded as auto here
            continue
        fail(flag(key), f"{values[key]!r} disagrees with the run's recorded {recorded[key]!r}")
    episodes = values["episodes"] if values["episodes"] != recorded["episodes"] else None
    return train_or_resume(lambda: trainer.resume(resume_dir, episodes), resume_dir, resuming=True)


def train_or_resume(start: Callable[[], tuple[Path, bool]], run_dir: Path, resuming: bool = False) -> int:
    from maddpg_gail import run_folder, trainer
    from maddpg_gail.checkpoint import CheckpointError

    try:
        run_dir, completed = start()
    except run_folder.RunFolderError as error:
        fail("--resume" if resuming else "--run-dir", str(error))
    except CheckpointError as error:
        fail("--resume" if resuming else "", str(error))
    except (trainer.NonFiniteError, OSError) as error:  # OSError: a full disk, a folder gone (message names it)
        error_line("main.py", error)
        return RUN_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C: checkpoint writes are atomic, so the last one is whole
        print(f"main.py: interrupted; {run_dir} keeps its last whole checkpoint, if it had one", file=sys.stderr)
        return INTERRUPTED
    print(f"run: {run_dir}")
    return 0 if completed else INTERRUPTED


# --- bc ---------------------------------------------------------------------------------------------------

def run_bc(argv: list[str]) -> int:
    config_file = given_value(argv, "--config")
    base = config_values(config_file) if config_file else {}
    values = parse("bc", argv, {k: v for k, v in base.items() if k in BC_FIELDS})
    if not values["demos"]:
        fail("--demos", "bc needs --demos DATASET.npz (e.g. from `main.py collect`)")
    # no reinforcement learning episodes: the actors learn from the demonstrations only
    config = make_config({**values, "episodes": 0})
    check_environment(config)

    from maddpg_gail import run_folder, trainer

    run_dir = Path(values["run_dir"]) if values["run_dir"] else trainer.default_run_dir(config, kind="bc")
    check_writable("--run-dir", run_dir)
    try:
        with run_folder.new_run(run_dir, values["overwrite"], resumable=False):
            run_dir, losses = trainer.clone(config, run_dir)
    except run_folder.RunFolderError as error:
        fail("--run-dir", str(error))
    except (trainer.NonFiniteError, OSError) as error:  # OSError: a full disk (the message names the file)
        error_line("main.py bc", error)
        return RUN_FAILED
    print(f"behaviour cloning: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs")
    print(f"run: {run_dir}")
    return 0


# --- evaluate ---------------------------------------------------------------------------------------------

def run_evaluate(argv: list[str]) -> int:
    args = parse("evaluate", argv)
    if not args["path"]:
        fail("", "the following arguments are required: RUN_DIR_OR_CHECKPOINT")
    gif = Path(args["gif"]) if args["gif"] else None
    if gif is not None:
        if gif.is_dir():
            fail("--gif", f"{gif} is a folder; give a file name, e.g. {gif / 'episode.gif'}")
        check_writable("--gif", gif.parent)
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.evaluation import evaluate, record_gif
    from maddpg_gail.policy import load_policy

    try:
        policy = load_policy(Path(args["path"]))
    except CheckpointError as error:
        error_line("main.py evaluate", error)
        return USAGE_ERROR
    result = evaluate(policy, args["episodes"], args["seed"], args["env_backend"])
    if args["json"]:
        print(json.dumps(result.to_json(path=args["path"], scenario=policy.scenario, env_kwargs=policy.env_kwargs,
                                        seed=args["seed"], env_backend=args["env_backend"])))
    else:
        print(f"{policy.scenario}: greedy policy over {args['episodes']} episodes (seed {args['seed']})")
        print("\n".join(result.lines()))
        if policy.demos is not None:
            print(imitation_score(policy, result.mean_sum, args))
    if gif is not None:
        try:
            gif.parent.mkdir(parents=True, exist_ok=True)
            total = record_gif(policy, gif, seed=args["seed"])
        except OSError as error:  # e.g. a full disk; the message names the file
            error_line("main.py evaluate", error)
            return RUN_FAILED
        print(f"gif: {gif} (return {total:.3f})", file=sys.stderr if args["json"] else sys.stdout)
    return 0


def imitation_score(policy, policy_return: float, args: dict[str, Any]) -> str:
    """The normalized score line: R_expert from the dataset, R_random on the same episode seeds."""
    from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations
    from maddpg_gail.evaluation import RandomPolicy, evaluate, normalized_score

    try:
        demos = load_demonstrations(Path(policy.demos), policy.scenario, policy.env_kwargs)
    except DemonstrationsError as error:
        return f"  normalized score: not available, the demonstrations do not load ({error})"
    expert = float(demos.episode_returns().sum(axis=1).mean())
    random = evaluate(RandomPolicy(policy.scenario, policy.env_kwargs, args["seed"]), args["episodes"], args["seed"],
                      args["env_backend"]).mean_sum
    score = normalized_score(policy_return, expert, random)
    return (f"  normalized score {score:.3f} = (R_policy - R_random) / (R_expert - R_random), "
            f"R_expert {expert:.3f} ({policy.demos}), R_random {random:.3f}")


# --- collect ----------------------------------------------------------------------------------------------

def run_collect(argv: list[str]) -> int:
    given_env = [name for name in EXPERT_ENV_FIELDS
                 if any(word.split("=", 1)[0] in (flag(name), "--no-" + flag(name)[2:]) for word in argv)]
    args = parse("collect", argv)
    path, expert = args["path"], args["expert"]
    if args["out"] is None:
        fail("", "the following arguments are required: --out")
    out = Path(args["out"])
    if path is None and expert is None:
        fail("", "the following arguments are required: RUN_DIR_OR_CHECKPOINT or --expert NAME")
    if path is not None and expert is not None:
        fail("--expert", f"not allowed with RUN_DIR_OR_CHECKPOINT {path}: record one or the other")
    if path is not None and given_env:
        fail(flag(given_env[0]), "only with --expert; a policy plays the env it was trained on")
    if expert is not None and args["stochastic"]:
        fail("--stochastic", "only with a policy; a scripted expert is deterministic")
    if out.is_dir():
        fail("--out", f"{out} is a folder; give a file name, e.g. {out / 'demos.npz'}")
    if out.exists() and not args["overwrite"]:
        fail("--out", f"{out} exists; use --overwrite to replace it")
    check_writable("--out", out.parent)

    from envs import experts
    from maddpg_gail import demonstrations  # torch loads only once the arguments are known good
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.policy import load_policy

    if expert is not None:
        config = make_config({name: args[name] for name in EXPERT_ENV_FIELDS})
        try:  # no training, so no device or memory check
            config.check_environment()
        except ConfigError as error:
            fail(error.label, error.message)
        try:
            actor = experts.make_expert(expert, config.scenario, config.parallel_env_kwargs())
        except ValueError as error:
            fail("--expert", str(error))
        source = {"expert": expert}
    else:
        try:
            actor = load_policy(Path(path))
        except CheckpointError as error:
            error_line("main.py collect", error)
            return USAGE_ERROR
        source = {"checkpoint": str(path)}
    try:
        demos = demonstrations.collect_to_file(actor, out, args["episodes"], args["seed"], args["env_backend"],
                                               args["stochastic"], source)
    except OSError as error:  # e.g. a full disk; the message names the file, and any previous one is intact
        error_line("main.py collect", error)
        return RUN_FAILED
    except KeyboardInterrupt:  # the file is written whole at the end, so nothing half-written is left
        print(f"main.py collect: interrupted; {out} not written (a file there before is left as it was)",
              file=sys.stderr)
        return INTERRUPTED
    print(demonstrations.summary(demos, out))
    return 0


# --- compare and report -----------------------------------------------------------------------------------

def existing_run(label: str, text: str | None) -> Path | None:
    if text is not None and not (Path(text) / "config.json").is_file():
        fail(label, f"{text!r} is not a run folder (no config.json)")
    return Path(text) if text is not None else None


def run_compare(argv: list[str]) -> int:
    config_file = given_value(argv, "--config")
    base = config_values(config_file) if config_file else {}
    args = parse("compare", argv, {k: v for k, v in base.items() if k in COMMANDS["compare"].config_fields})
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.reports import report
    from maddpg_gail.sweeps import default_compare_dir, sweep
    from maddpg_gail.variants import CompareError, needing_demos, parse_variants

    demos_given = args["demos"] is not None
    try:
        variants = parse_variants(args["variants"], demos_given)
    except CompareError as error:
        fail("--variants", str(error))
    reference = existing_run("--reference", args["reference"])
    if args["ray_address"] is not None and args["workers"] is not None:
        fail("--ray-address", "not allowed with argument --workers")
    imitation = needing_demos(variants)
    if imitation and not demos_given:
        fail("--variants", f"{', '.join(imitation)} need{'s' if len(imitation) == 1 else ''} --demos DATASET.npz "
                           f"(e.g. from `main.py collect`)")
    if args["ray_address"] is not None and importlib.util.find_spec("ray") is None:
        fail("--ray-address", "Ray is not installed; pip install -r requirements-ray.txt")
    config = make_config({**base, **args}, check_combinations=False)  # the base never runs; its variants do:
    for variant in variants:  # every variant's config is checked, against the env and dataset too, before training
        try:
            variant_config = variant.config(config, 0)
        except ConfigError as error:
            fail("--variants", f"{variant.name}: {error}")
        try:
            check_environment(variant_config)
        except UsageError as error:
            fail("--variants", f"{variant.name}: {error}")

    out = Path(args["out"]) if args["out"] else default_compare_dir(config)
    check_writable("--out", out)
    try:
        outcomes = sweep(config, variants, range(args["seeds"]), out, args["workers"] or os.cpu_count(),
                         args["ray_address"], args["final_eval_episodes"])
        if "failed" in outcomes.values():
            print("main.py compare: error: runs failed; rerun the same command to finish the sweep", file=sys.stderr)
            return RUN_FAILED
        if "interrupted" in outcomes.values():
            print(f"compare: stopped; rerun the same command (same --out {out}) to resume", file=sys.stderr)
            return INTERRUPTED
        results = report([out / name for name in outcomes], out, args["final_eval_episodes"], reference,
                         config.demos)
    except (CompareError, CheckpointError) as error:
        error_line("main.py compare", error)
        return USAGE_ERROR
    except OSError as error:  # e.g. a full disk; the message names the file
        error_line("main.py compare", error)
        return RUN_FAILED
    print(results.read_text())
    print(f"compare: {out}")
    return 0


def run_report(argv: list[str]) -> int:
    args = parse("report", argv)
    if not args["paths"]:
        fail("", "the following arguments are required: RUN_DIR")
    reference = existing_run("--reference", args["reference"])
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.reports import default_report_dir, find_runs, report
    from maddpg_gail.variants import CompareError

    paths = [Path(p) for p in args["paths"]]
    try:
        run_dirs = find_runs(paths)
        out = Path(args["out"]) if args["out"] else default_report_dir(paths)
        check_writable("--out", out)
        results = report(run_dirs, out, args["final_eval_episodes"], reference,
                         Path(args["demos"]) if args["demos"] else None)
    except (CompareError, CheckpointError) as error:
        error_line("main.py report", error)
        return USAGE_ERROR
    except OSError as error:  # e.g. a full disk; the message names the file
        error_line("main.py report", error)
        return RUN_FAILED
    print(results.read_text())
    print(f"report: {out}")
    return 0


def not_for_bc(name: str) -> str:
    return ("a behaviour-cloning run has nothing to resume; run it again" if name == "resume"
            else "not used by bc, which clones the actors on --demos and evaluates them")


COMMANDS: dict[str, Command] = {
    "train": Command("Train MADDPG, MATD3, independent DDPG or MAGAIL on an mpe2 scenario (the default command).",
                     run_train, TrainFlags, CONFIG_FIELDS),
    "evaluate": Command("Greedy evaluation of a trained run, optionally a GIF.", run_evaluate, EvaluateFlags,
                        positional=("path",)),
    "collect": Command("Expert demonstrations: episodes of a trained policy or a scripted expert, in one .npz.",
                       run_collect, CollectFlags, EXPERT_ENV_FIELDS, positional=("path",)),
    "bc": Command("Behaviour cloning of the actors on --demos.", run_bc, BcFlags, BC_FIELDS,
                  refused=not_for_bc, aliases=(("--epochs", "bc_epochs"),)),
    "compare": Command("Train every (variant, seed) pair, then write results.md, results.csv, curves.png and GIFs.",
                       run_compare, CompareFlags, tuple(n for n in CONFIG_FIELDS if n not in SET_BY_COMPARE),
                       refused=SET_BY_COMPARE.get),
    "report": Command("results.md, results.csv, curves.png and a GIF per config group from existing run folders.",
                      run_report, ReportFlags, positional=("paths",)),
}


def overview() -> str:
    lines = ["usage: main.py [COMMAND] [FLAGS...]    (maddpg-gail, once installed, is the same command)", "",
             "Multi-agent RL on the Multi-Agent Particle Environments: MADDPG, independent DDPG, MAGAIL and", 
             "behaviour cloning. Without a command, main.py trains: `main.py --episodes 30000` is `main.py train "
             "--episodes 30000`.", "", "commands:"]
    lines += [f"  {name:<9} {spec.summary}" for name, spec in COMMANDS.items()]
    lines += ["", "main.py COMMAND --help lists a command's flags and their defaults."]
    return "\n".join(lines)


def as_typed(spec: Command, argv: list[str], error: UsageError) -> UsageError:
    """The error naming the flag as the user typed it: `bc --epochs 0` is about --epochs, not --bc-epochs."""
    typed = {word.split("=", 1)[0] for word in argv}
    for alias, name in spec.aliases:
        if error.label == flag(name) and alias in typed and flag(name) not in typed:
            return UsageError(alias, error.message)
    return error


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(overview())
        return 0
    command = "train"
    if argv and argv[0] in COMMANDS:
        command, argv = argv[0], argv[1:]
    elif argv and not argv[0].startswith("-"):  # train takes no positional argument: a mistyped command
        near = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        print(f"main.py: error: unknown command {argv[0]!r}"
              + (f"; did you mean {near[0]!r}?" if near else f"; commands: {', '.join(COMMANDS)}"), file=sys.stderr)
        raise SystemExit(USAGE_ERROR)
    prog = "main.py" if command == "train" else f"main.py {command}"
    try:
        return COMMANDS[command].run(argv)
    except UsageError as error:  # exits, as a parser does, where the run's own failures return their code
        error_line(prog, as_typed(COMMANDS[command], argv, error))
        raise SystemExit(USAGE_ERROR) from None
