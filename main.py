"""maddpg-gail command line: parse arguments and dispatch.

    python main.py [--episodes 30000 ...]             train (MADDPG by default)
    python main.py evaluate RUN_DIR_OR_CHECKPOINT      greedy evaluation, optional GIF
    python main.py compare --variants maddpg,iddpg --seeds 5 [--episodes ...]   sweep, then report
    python main.py compare --variants magail,bc --demos demos/spread.npz        ... of imitation variants
    python main.py report RUN_DIR...                   results table, curves and GIFs of existing runs
    python main.py collect RUN_DIR_OR_CHECKPOINT --out demos/spread.npz    expert demonstrations
    python main.py collect --expert scripted --out demos/spread.npz       ... from a scripted expert
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

from envs import BACKENDS, SCENARIOS, make_parallel_env, validate_env_kwargs
from envs.symmetries import agent_layouts, relabellings
from maddpg_gail.config import (ACTOR_INPUTS, CRITICS, DEVICES, DISCRIMINATOR_REWARDS, DISCRIMINATORS, REWARDS, Config,
                                replay_capacity)
from maddpg_gail.maddpg import actor_inputs

RUN_FAILED = 1
USAGE_ERROR = 2
DEMONSTRATION_SEED = 1_000_000  # distinct from the default seeds of evaluate (0) and compare (123)
INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: the flag, the bad value and what is allowed."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def integer(low: int | None = None, high: int | None = None):
    allowed = {(None, None): "an integer", (1, None): "a positive integer", (0, None): "an integer >= 0"}.get(
        (low, high), f"an integer in [{low}, {high}]"
    )

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
        return value

    return parse


def real(low: float, high: float, low_open: bool = False, high_open: bool = False):
    allowed = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high or value != value:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
        return value

    return parse


def env_kwarg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. N=4 local_ratio=0.5)")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated positive layer sizes (e.g. 64,64)")
    return sizes


def train_parser(prog: str = "main.py", description: str = "Train MADDPG / independent DDPG on an mpe2 scenario.") -> Parser:
    p = Parser(prog=prog, description=description)
    add = p.add_argument
    suppress = argparse.SUPPRESS  # flags not given leave Config's defaults alone
    add("--scenario", choices=SCENARIOS, default=suppress, help="mpe2 scenario (default simple_spread_v3)")
    add("--env-kwargs", type=env_kwarg, nargs="+", metavar="KEY=VALUE", default=suppress,
        help="the scenario's own options, e.g. N=4 local_ratio=0.5 (values parsed as JSON)")
    add("--max-cycles", type=integer(1), default=suppress, help="episode length (default 25)")
    add("--continuous-actions", action="store_true", default=suppress, help="Box(0, 1) actions instead of Discrete")
    add("--num-envs", type=integer(1), default=suppress, help="envs stepped in parallel")
    add("--env-backend", choices=BACKENDS, default=suppress)
    add("--critic", choices=CRITICS, default=suppress, help="centralized = MADDPG, independent = DDPG per agent")
    add("--hidden-sizes", type=hidden_sizes, default=suppress, help="MLP layer sizes, e.g. 64,64")
    add("--actor-inputs", choices=ACTOR_INPUTS, default=suppress,
        help="what the actors see: their observation (default), or it and the distance from every agent to every "
             "landmark in it (distances: simple_spread_v3)")
    add("--actor-lr", type=real(0, 1, low_open=True), default=suppress)
    add("--critic-lr", type=real(0, 1, low_open=True), default=suppress)
    add("--gamma", type=real(0, 1, high_open=True), default=suppress)
    add("--n-step", type=integer(1), default=suppress, help="steps in the critic's return before bootstrapping")
    add("--tau", type=real(0, 1, low_open=True), default=suppress)
    add("--batch-size", type=integer(1), default=suppress)
    add("--buffer-size", type=integer(1), default=suppress)
    add("--grad-clip", type=real(0, float("inf"), low_open=True), default=suppress)
    add("--learning-starts", type=integer(0), default=suppress, help="transitions before the first update")
    add("--update-every", type=integer(1), default=suppress, help="transitions between rounds of updates")
    add("--updates-per-round", type=integer(1), default=suppress)
    add("--episodes", type=integer(1), default=suppress, help="episodes to train (default 30000)")
    add("--seed", type=integer(0, 2**32 - 1), default=suppress)
    add("--device", choices=DEVICES, default=suppress)
    add("--eval-interval", type=integer(1), default=suppress, help="episodes between greedy evaluations")
    add("--eval-episodes", type=integer(1), default=suppress)
    add("--save-interval", type=integer(1), default=suppress, help="episodes between checkpoints and GIFs")
    add("--reward", choices=REWARDS, default=suppress,
        help="env: the environment's reward; gail: MAGAIL's per-agent discriminators (needs --demos)")
    add("--demos", type=str, default=suppress, metavar="DATASET.npz", help="expert demonstrations (see README)")
    add("--discriminator", choices=DISCRIMINATORS, default=suppress,
        help="decentralized: D_i sees agent i's (o, a); centralized: all agents'")
    add("--discriminator-reward", choices=DISCRIMINATOR_REWARDS, default=suppress,
        help="softplus = -log(1 - D) (default), logit = log D - log(1 - D), log_d = log D")
    add("--discriminator-lr", type=real(0, 1, low_open=True), default=suppress)
    add("--discriminator-grad-penalty", type=real(0, float("inf"), high_open=True), default=suppress)
    add("--discriminator-label-smoothing", type=real(0, 0.5, high_open=True), default=suppress)
    add("--discriminator-state-matched", type=real(0, 1), default=suppress,
        help="fraction of D's policy samples that pair expert observations with the policy's actions (default 0)")
    add("--discriminator-symmetries", action="store_true", default=suppress,
        help="train D on expert and policy samples turned by the plane's 8 rotations and reflections")
    add("--bc-init", action="store_true", default=suppress, help="behaviour-clone the actors before MAGAIL")
    add("--bc-epochs", type=integer(1), default=suppress)
    add("--bc-batch-size", type=integer(1), default=suppress)
    add("--bc-lr", type=real(0, 1, low_open=True), default=suppress)
    add("--bc-weight", type=real(0, float("inf"), high_open=True), default=suppress,
        help="weight of a behaviour-cloning term in each actor's loss (default 0: none)")
    add("--bc-symmetries", action="store_true", default=suppress,
        help="clone (bc, --bc-init, --bc-weight) on demonstrations turned by the plane's rotations and reflections")
    add("--relabel-entities", action="store_true", default=suppress,
        help="the symmetries (--discriminator-symmetries, --bc-symmetries) also permute the interchangeable agents "
             "and landmarks (simple_spread_v3)")
    add("--actor-warmup-updates", type=integer(0), default=suppress,
        help="updates that train the critics only, before the actors (default 0)")
    add("--run-dir", type=Path, help="output folder (default runs/<scenario>__<critic>__s<seed>__<time>)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    group.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --run-dir")
    return p


def evaluate_parser() -> Parser:
    p = Parser(prog="main.py evaluate", description="Greedy evaluation of a trained run.")
    p.add_argument("path", type=Path, metavar="RUN_DIR_OR_CHECKPOINT")
    p.add_argument("--episodes", type=integer(1), default=100)
    p.add_argument("--seed", type=integer(0, 2**32 - 1), default=0)
    p.add_argument("--gif", type=Path, help="also write one greedy episode as a GIF here")
    p.add_argument("--env-backend", choices=BACKENDS, default=Config.env_backend)
    return p


def parse_training_flags(parser: Parser, argv: list[str]) -> dict:
    args = vars(parser.parse_args(argv))
    if "env_kwargs" in args:
        args["env_kwargs"] = dict(args["env_kwargs"])
    return args


# Scenario options with flags of their own: those flags would silently win over --env-kwargs.
OWN_FLAGS = {"max_cycles": "--max-cycles", "continuous_actions": "--continuous-actions"}


def validated_config(parser: Parser, args: dict) -> Config:
    """The Config of the given training flags, after the checks that span several flags."""
    config = Config.from_dict(args)
    for key, flag in OWN_FLAGS.items():
        if key in config.env_kwargs:
            parser.error(f"argument --env-kwargs: {key} has a flag of its own: use {flag}")
    try:
        validate_env_kwargs(config.scenario, config.env_kwargs)
    except ValueError as error:
        parser.error(f"argument --env-kwargs: {error}")
    obs_dims = check_env_builds(parser, config)
    for flag, wanted in (("--discriminator-symmetries", config.discriminator_symmetries),
                         ("--bc-symmetries", config.bc_symmetries)):
        if wanted:
            try:
                agent_layouts(config.scenario, config.env_kwargs)
            except ValueError as error:
                parser.error(f"argument {flag}: {error}")
    if config.relabel_entities:
        if not (config.discriminator_symmetries or config.bc_symmetries):
            parser.error("argument --relabel-entities: it adds to the symmetries, so it needs "
                         "--discriminator-symmetries or --bc-symmetries")
        try:
            relabellings(config.scenario, config.env_kwargs, obs_dims)
        except ValueError as error:
            parser.error(f"argument --relabel-entities: {error}")
    try:
        actor_inputs(config, obs_dims)
    except ValueError as error:
        parser.error(f"argument --actor-inputs: {error}")
    capacity = replay_capacity(config.buffer_size, config.num_envs)
    flag, first_update = max(("--learning-starts", config.learning_starts), ("--batch-size", config.batch_size),
                             key=lambda pair: pair[1])
    if first_update > capacity:  # the buffer would never hold enough transitions for the first update
        parser.error(f"argument {flag}: {first_update} is more than the replay buffer holds ({capacity} "
                     f"transitions: --buffer-size {config.buffer_size} in whole steps of --num-envs "
                     f"{config.num_envs}), so no update would ever run")
    check_demos(parser, config)
    from maddpg_gail.budget import BudgetError, check_run_fits

    try:
        check_run_fits(config)  # before any folder is made or any old run overwritten
    except BudgetError as error:
        parser.error(f"argument {error.flag}: {error}")
    return config


def check_demos(parser: Parser, config: Config) -> None:
    """Imitation needs a dataset of this very environment: check it before anything is trained."""
    needs = ("--reward gail" if config.reward == "gail" else "--bc-init" if config.bc_init
             else "--bc-weight" if config.bc_weight > 0 else None)
    if config.demos is None:
        if needs:
            parser.error(f"argument {needs}: needs --demos DATASET.npz (e.g. from `main.py collect`)")
        return
    from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations

    try:
        load_demonstrations(Path(config.demos), config.scenario, config.parallel_env_kwargs())
    except DemonstrationsError as error:
        parser.error(f"argument --demos: {error}")


def check_env_builds(parser: Parser, config: Config) -> list[int]:
    """Build and step the env once, so that options it cannot take fail now, not when training starts;
    returns the size of each agent's observation."""
    try:
        env = make_parallel_env(config.scenario, config.parallel_env_kwargs())
        env.reset(seed=config.seed)
        env.step({agent: env.action_space(agent).sample() for agent in env.agents})
        env.close()
        return [int(env.observation_space(agent).shape[0]) for agent in env.possible_agents]
    except Exception as error:  # a scenario raises any type for an option it cannot take: TypeError, AssertionError...
        given = " ".join(f"{key}={json.dumps(value)}" for key, value in config.env_kwargs.items()) or "its defaults"
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        parser.error(f"argument --env-kwargs: {config.scenario} does not build with {given} ({reason})")


def check_writable(parser: Parser, flag: str, folder: Path) -> None:
    """Find an unwritable destination now, not at the first checkpoint, hours into training."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        parser.error(f"argument {flag}: {folder} cannot be created: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()  # permissions alone miss read-only disks and root's rights
    except OSError as error:
        parser.error(f"argument {flag}: {folder} cannot be written: {existing}: {error.strerror}")


def run_train(argv: list[str]) -> int:
    parser = train_parser()
    args = parse_training_flags(parser, argv)
    run_dir, resume_dir, overwrite = args.pop("run_dir"), args.pop("resume"), args.pop("overwrite")

    from maddpg_gail import run_folder, trainer  # torch loads only once the arguments are known good
    from maddpg_gail.checkpoint import CheckpointError

    if resume_dir is not None:
        if run_dir is not None:
            parser.error("argument --run-dir: not allowed with argument --resume (a run resumes in its own folder)")
        check_resume_flags(parser, resume_dir, args)
        run_dir = resume_dir
    else:
        config = validated_config(parser, args)
        run_dir = run_dir if run_dir is not None else trainer.default_run_dir(config)
        check_writable(parser, "--run-dir", run_dir)
    try:
        if resume_dir is not None:
            run_dir, completed = trainer.resume(resume_dir, args.get("episodes"))
        else:
            with run_folder.new_run(run_dir, overwrite):  # refuses a folder in use, or not a run to overwrite
                run_dir, completed = trainer.train(config, run_dir)
    except run_folder.RunFolderError as error:
        parser.error(f"argument {'--run-dir' if resume_dir is None else '--resume'}: {error}")
    except CheckpointError as error:
        parser.error(f"argument --resume: {error}")
    except (trainer.NonFiniteError, OSError) as error:  # OSError: a full disk, a folder gone (message names it)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return RUN_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C: checkpoint writes are atomic, so the last one is whole
        print(f"{parser.prog}: interrupted; {run_dir} keeps its last whole checkpoint, if it had one", file=sys.stderr)
        return INTERRUPTED
    print(f"run: {run_dir}")
    return 0 if completed else INTERRUPTED


def check_resume_flags(parser: Parser, resume_dir: Path, given: dict) -> None:
    """The run folder must have a readable config and a checkpoint, and be writable; flags given with --resume
    must agree with the recorded config (--episodes may extend it)."""
    from maddpg_gail.checkpoint import CHECKPOINT_NAME

    config_path = resume_dir / "config.json"
    if not config_path.is_file():
        parser.error(f"argument --resume: {resume_dir} holds no config.json; it is not a run folder")
    try:
        recorded = Config.load(config_path)
    except (ValueError, TypeError) as error:  # not JSON, or not a config
        parser.error(f"argument --resume: {config_path} is not a readable config ({error})")
    if not (resume_dir / "checkpoints" / CHECKPOINT_NAME).is_file():
        parser.error(f"argument --resume: {resume_dir} has no checkpoint yet (it stopped before its first save); "
                     f"start it again with --run-dir {resume_dir} --overwrite")
    check_writable(parser, "--resume", resume_dir / "checkpoints")
    from maddpg_gail.trainer import same_device

    for key, value in given.items():
        if key == "device" and same_device(value, recorded.device):  # e.g. cpu for a run recorded as auto on a CPU
            continue
        if key != "episodes" and getattr(recorded, key) != value:
            flag = "--" + key.replace("_", "-")
            parser.error(f"argument {flag}: {value!r} disagrees with the run's recorded {getattr(recorded, key)!r}")


def run_evaluate(argv: list[str]) -> int:
    parser = evaluate_parser()
    args = parser.parse_args(argv)
    if args.gif is not None:
        if args.gif.is_dir():
            parser.error(f"argument --gif: {args.gif} is a folder; give a file name, e.g. {args.gif / 'episode.gif'}")
        check_writable(parser, "--gif", args.gif.parent)
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.evaluation import evaluate, record_gif
    from maddpg_gail.policy import load_policy

    try:
        policy = load_policy(args.path)
    except CheckpointError as error:
        print(f"main.py evaluate: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    result = evaluate(policy, args.episodes, args.seed, args.env_backend)
    print(f"{policy.scenario}: greedy policy over {args.episodes} episodes (seed {args.seed})")
    for agent, mean in result.mean_per_agent.items():
        print(f"  {agent:<16} {mean:10.3f}")
    print(f"  {'sum':<16} {result.mean_sum:10.3f}  (std {result.std_sum:.3f})")
    if policy.demos is not None:
        print(imitation_score(policy, result.mean_sum, args))
    if args.gif is not None:
        try:
            args.gif.parent.mkdir(parents=True, exist_ok=True)
            total = record_gif(policy, args.gif, seed=args.seed)
        except OSError as error:  # e.g. a full disk; the message names the file
            print(f"main.py evaluate: error: {error}", file=sys.stderr)
            return RUN_FAILED
        print(f"gif: {args.gif} (return {total:.3f})")
    return 0


def imitation_score(policy, policy_return: float, args: argparse.Namespace) -> str:
    """The normalized score line: R_expert from the dataset, R_random on the same episode seeds."""
    from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations
    from maddpg_gail.evaluation import RandomPolicy, evaluate, normalized_score

    try:
        demos = load_demonstrations(Path(policy.demos), policy.scenario, policy.env_kwargs)
    except DemonstrationsError as error:
        return f"  normalized score: not available, the demonstrations do not load ({error})"
    expert = float(demos.episode_returns().sum(axis=1).mean())
    random = evaluate(RandomPolicy(policy.scenario, policy.env_kwargs, args.seed), args.episodes, args.seed,
                      args.env_backend).mean_sum
    score = normalized_score(policy_return, expert, random)
    return (f"  normalized score {score:.3f} = (R_policy - R_random) / (R_expert - R_random), "
            f"R_expert {expert:.3f} ({policy.demos}), R_random {random:.3f}")


# The settings a behaviour-cloning run uses: the env, the actors, the cloning and the final evaluation.
BC_SETTINGS = {"scenario", "env_kwargs", "max_cycles", "continuous_actions", "num_envs", "env_backend", "hidden_sizes",
               "actor_inputs", "seed", "device", "eval_episodes", "demos", "bc_epochs", "bc_batch_size", "bc_lr",
               "bc_symmetries", "relabel_entities"}


def run_bc(argv: list[str]) -> int:
    parser = train_parser(prog="main.py bc", description="Behaviour cloning of the actors on --demos.")
    parser.add_argument("--epochs", dest="bc_epochs", type=integer(1), default=argparse.SUPPRESS,
                        help=f"epochs over the demonstrations (default {Config.bc_epochs})")
    args = parse_training_flags(parser, argv)
    run_dir, resume_dir, overwrite = args.pop("run_dir"), args.pop("resume"), args.pop("overwrite")
    if resume_dir is not None:
        parser.error("argument --resume: a behaviour-cloning run has nothing to resume; run it again")
    unused = sorted(set(args) - BC_SETTINGS)
    if unused:  # taken silently, a reinforcement-learning or MAGAIL flag would suggest it changed the clone
        flags = ", ".join("--" + key.replace("_", "-") for key in unused)
        parser.error(f"argument {flags}: not used by bc, which clones the actors on --demos and evaluates them")
    if "demos" not in args:
        parser.error("argument --demos: bc needs --demos DATASET.npz (e.g. from `main.py collect`)")
    args["episodes"] = 0  # no reinforcement learning episodes: the actors learn from the demonstrations only
    config = validated_config(parser, args)

    from maddpg_gail import run_folder, trainer

    run_dir = run_dir if run_dir is not None else trainer.default_run_dir(config, kind="bc")
    check_writable(parser, "--run-dir", run_dir)
    try:
        with run_folder.new_run(run_dir, overwrite, resumable=False):
            run_dir, losses = trainer.clone(config, run_dir)
    except run_folder.RunFolderError as error:
        parser.error(f"argument --run-dir: {error}")
    except (trainer.NonFiniteError, OSError) as error:  # OSError: a full disk (the message names the file)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return RUN_FAILED
    print(f"behaviour cloning: loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs")
    print(f"run: {run_dir}")
    return 0


def run_folder(text: str) -> Path:
    path = Path(text)
    if not (path / "config.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a run folder (no config.json)")
    return path


def add_report_flags(p: Parser) -> None:
    from maddpg_gail.compare import FINAL_EVAL_EPISODES

    p.add_argument("--final-eval-episodes", type=integer(1), default=FINAL_EVAL_EPISODES,
                   help=f"episodes of each run's final greedy evaluation (default {FINAL_EVAL_EPISODES})")
    p.add_argument("--reference", type=run_folder, metavar="RUN_DIR",
                   help="a run (e.g. the expert) scoring 1 in a normalized score column; random actions score 0. "
                        "Without it the runs' demonstrations give the reference: R_expert, their mean return")


def compare_parser() -> Parser:
    from maddpg_gail.compare import VARIANTS

    def variant_names(text: str) -> list[str]:
        names = text.split(",")
        for name in names:
            if name not in VARIANTS:
                raise argparse.ArgumentTypeError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        if len(set(names)) < len(names):
            raise argparse.ArgumentTypeError(f"{text!r} names a variant twice")
        return names

    p = Parser(prog="main.py compare", allow_abbrev=False,  # else a stray --seed would be taken for --seeds
               description="Train every (variant, seed) pair, then write results.md, results.csv, curves.png and a "
                           "GIF per variant. Training flags (main.py --help) pass through to every run, except "
                           "--critic, --reward, --discriminator, --seed, --run-dir, --resume and --overwrite. "
                           "The imitation variants need the training flag --demos DATASET.npz. "
                           "Rerun with the same --out to resume.")
    p.add_argument("--variants", type=variant_names,
                   help=f"comma-separated, from: {', '.join(VARIANTS)} "
                        f"(default: all, or without --demos those that need no demonstrations)")
    p.add_argument("--seeds", type=integer(1), default=5, help="N runs seeds 0..N-1 of each variant (default 5)")
    p.add_argument("--out", type=Path, help="compare folder (default runs/compare__<scenario>__<time>)")
    add_report_flags(p)
    where = p.add_mutually_exclusive_group()
    # default None, not os.cpu_count(): argparse takes a given value equal to the default for no value at all
    where.add_argument("--workers", type=integer(1),
                       help=f"runs in parallel on this machine (default: the number of cores, {os.cpu_count()})")
    where.add_argument("--ray-address", metavar="ADDRESS", help="run each pair as a Ray task on this cluster, or auto")
    return p


# Training flags that compare sets itself, and what to use instead.
SET_BY_COMPARE = {
    "critic": "compare sets it from --variants",
    "reward": "compare sets it from --variants",
    "discriminator": "compare sets it from --variants",
    "seed": "compare sets it from --seeds",
    "run_dir": "compare writes its runs under --out",
    "resume": "rerun compare with the same --out to resume",
    "overwrite": "choose another --out",
}


def run_compare(argv: list[str]) -> int:
    parser = compare_parser()
    args, training_argv = parser.parse_known_args(argv)
    training = train_parser()
    training.prog = parser.prog
    overrides = parse_training_flags(training, training_argv)
    for key, instead in SET_BY_COMPARE.items():
        value = overrides.pop(key, None)
        if value is not None and value is not False:  # --overwrite defaults to False, --seed may be 0
            parser.error(f"argument --{key.replace('_', '-')}: {instead}")

    from maddpg_gail import compare
    from maddpg_gail.checkpoint import CheckpointError

    variants = args.variants
    if variants is None:
        variants = [v for v in compare.VARIANTS if "demos" in overrides or not compare.VARIANTS[v].needs_demos]
    imitation = compare.needing_demos(variants)
    if imitation and "demos" not in overrides:
        parser.error(f"argument --variants: {', '.join(imitation)} need{'s' if len(imitation) == 1 else ''} "
                     f"--demos DATASET.npz (e.g. from `main.py collect`)")
    if args.ray_address is not None and importlib.util.find_spec("ray") is None:
        parser.error("argument --ray-address: Ray is not installed; pip install -r requirements-ray.txt")
    config = validated_config(training, overrides)  # checks the dataset against the env before any training

    out = args.out or compare.default_compare_dir(config)
    check_writable(parser, "--out", out)
    try:
        workers = args.workers or os.cpu_count()
        outcomes = compare.sweep(config, variants, range(args.seeds), out, workers, args.ray_address,
                                 args.final_eval_episodes)
        if "failed" in outcomes.values():
            print(f"{parser.prog}: error: runs failed; rerun the same command to finish the sweep", file=sys.stderr)
            return RUN_FAILED
        if "interrupted" in outcomes.values():
            print(f"compare: stopped; rerun the same command (same --out {out}) to resume", file=sys.stderr)
            return INTERRUPTED
        results = compare.report([out / name for name in outcomes], out, args.final_eval_episodes, args.reference,
                                 config.demos)
    except (compare.CompareError, CheckpointError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(results.read_text())
    print(f"compare: {out}")
    return 0


def report_parser() -> Parser:
    p = Parser(prog="main.py report", description="results.md, results.csv, curves.png and a GIF per variant from "
                                                  "existing run folders, without training.")
    p.add_argument("paths", nargs="+", type=Path, metavar="RUN_DIR", help="run folders, or compare folders of them")
    p.add_argument("--out", type=Path, help="default: the compare folder when given one, else runs/report__<time>")
    add_report_flags(p)
    p.add_argument("--demos", type=Path, metavar="DATASET.npz",
                   help="expert demonstrations whose mean return scores 1 in the normalized score column "
                        "(default: the dataset all the runs were trained with, if they share one)")
    return p


def run_report(argv: list[str]) -> int:
    parser = report_parser()
    args = parser.parse_args(argv)
    from maddpg_gail import compare
    from maddpg_gail.checkpoint import CheckpointError

    try:
        run_dirs = compare.find_runs(args.paths)
        out = args.out or compare.default_report_dir(args.paths)
        check_writable(parser, "--out", out)
        results = compare.report(run_dirs, out, args.final_eval_episodes, args.reference, args.demos)
    except (compare.CompareError, CheckpointError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(results.read_text())
    print(f"report: {out}")
    return 0


def collect_parser() -> Parser:
    p = Parser(prog="main.py collect", description="Expert demonstrations: whole episodes of a trained policy or of "
                                                   "a scripted expert, in one .npz file (format in README).")
    add = p.add_argument
    suppress = argparse.SUPPRESS
    add("path", type=Path, nargs="?", metavar="RUN_DIR_OR_CHECKPOINT", help="the policy to record (greedy by default)")
    add("--expert", metavar="NAME", help="record a scripted expert instead: scripted (simple_spread_v3)")
    add("--out", type=Path, required=True, metavar="DATASET.npz")
    add("--overwrite", action="store_true", help="replace an existing --out")
    add("--episodes", type=integer(1), default=100)
    add("--seed", type=integer(0, 2**32 - 1), default=DEMONSTRATION_SEED,
        help=f"seeds the episodes (default {DEMONSTRATION_SEED}: no evaluation uses it by default, so "
             "imitation policies are never evaluated on the episodes they learned from)")
    add("--stochastic", action="store_true", help="sample the policy's actions (Gumbel-softmax, Gaussian noise)")
    add("--env-backend", choices=BACKENDS, default=Config.env_backend)
    # The env of a scripted expert; a policy plays the one it was trained on.
    add("--scenario", choices=SCENARIOS, default=suppress, help="with --expert (default simple_spread_v3)")
    add("--env-kwargs", type=env_kwarg, nargs="+", metavar="KEY=VALUE", default=suppress,
        help="with --expert: the scenario's own options, e.g. N=4")
    add("--max-cycles", type=integer(1), default=suppress, help="with --expert: episode length (default 25)")
    add("--continuous-actions", action="store_true", default=suppress, help="with --expert: Box(0, 1) actions")
    return p


EXPERT_ENV_FLAGS = ("scenario", "env_kwargs", "max_cycles", "continuous_actions")


def run_collect(argv: list[str]) -> int:
    parser = collect_parser()
    args = vars(parser.parse_args(argv))
    env_flags = {key: args.pop(key) for key in EXPERT_ENV_FLAGS if key in args}
    path, expert, out = args["path"], args["expert"], args["out"]
    if path is None and expert is None:
        parser.error("the following arguments are required: RUN_DIR_OR_CHECKPOINT or --expert NAME")
    if path is not None and expert is not None:
        parser.error(f"argument --expert: not allowed with RUN_DIR_OR_CHECKPOINT {path}: record one or the other")
    if path is not None and env_flags:
        flag = "--" + next(iter(env_flags)).replace("_", "-")
        parser.error(f"argument {flag}: only with --expert; a policy plays the env it was trained on")
    if expert is not None and args["stochastic"]:
        parser.error("argument --stochastic: only with a policy; a scripted expert is deterministic")
    if out.is_dir():
        parser.error(f"argument --out: {out} is a folder; give a file name, e.g. {out / 'demos.npz'}")
    if out.exists() and not args["overwrite"]:
        parser.error(f"argument --out: {out} exists; use --overwrite to replace it")
    check_writable(parser, "--out", out.parent)
    if "env_kwargs" in env_flags:
        env_flags["env_kwargs"] = dict(env_flags["env_kwargs"])

    from maddpg_gail import demonstrations, experts  # torch loads only once the arguments are known good
    from maddpg_gail.checkpoint import CheckpointError
    from maddpg_gail.policy import load_policy

    if expert is not None:
        config = validated_config(parser, env_flags)
        try:
            actor = experts.make_expert(expert, config.scenario, config.parallel_env_kwargs())
        except ValueError as error:
            parser.error(f"argument --expert: {error}")
        source = {"expert": expert}
    else:
        try:
            actor = load_policy(path)
        except CheckpointError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return USAGE_ERROR
        source = {"checkpoint": str(path)}
    try:
        demos = demonstrations.collect_to_file(actor, out, args["episodes"], args["seed"], args["env_backend"],
                                               args["stochastic"], source)
    except OSError as error:  # e.g. a full disk; the message names the file, and any previous one is intact
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return RUN_FAILED
    except KeyboardInterrupt:  # the file is written whole at the end, so nothing half-written is left
        print(f"{parser.prog}: interrupted; {out} not written (a file there before is left as it was)",
              file=sys.stderr)
        return INTERRUPTED
    print(demonstrations.summary(demos, out))
    return 0


COMMANDS = {
    "evaluate": run_evaluate, "bc": run_bc, "compare": run_compare, "report": run_report, "collect": run_collect,
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return run_train(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
