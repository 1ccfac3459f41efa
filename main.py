"""maddpg-gail command line: parse arguments and dispatch.

    python main.py [--episodes 30000 ...]             train (MADDPG by default)
    python main.py evaluate RUN_DIR_OR_CHECKPOINT      greedy evaluation, optional GIF
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from envs import BACKENDS, SCENARIOS, validate_env_kwargs
from maddpg_gail.config import CRITICS, DEVICES, Config

USAGE_ERROR = 2
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


def train_parser() -> Parser:
    p = Parser(prog="main.py", description="Train MADDPG / independent DDPG on an mpe2 scenario.")
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


def run_train(argv: list[str]) -> int:
    parser = train_parser()
    args = vars(parser.parse_args(argv))
    run_dir, resume_dir, overwrite = args.pop("run_dir"), args.pop("resume"), args.pop("overwrite")
    if "env_kwargs" in args:
        args["env_kwargs"] = dict(args["env_kwargs"])

    from maddpg_gail import trainer  # torch loads only once the arguments are known good

    if resume_dir is not None:
        check_resume_flags(parser, resume_dir, args)
        run_dir, completed = trainer.resume(resume_dir, args.get("episodes"))
    else:
        config = Config.from_dict(args)
        try:
            validate_env_kwargs(config.scenario, config.env_kwargs)
        except ValueError as error:
            parser.error(f"argument --env-kwargs: {error}")
        if config.batch_size > config.buffer_size:
            parser.error(f"argument --batch-size: {config.batch_size} is larger than --buffer-size {config.buffer_size}")
        if run_dir is not None and run_dir.exists() and any(run_dir.iterdir()):
            if not overwrite:
                parser.error(f"argument --run-dir: {run_dir} exists and is not empty; use --resume or --overwrite")
            shutil.rmtree(run_dir)
        run_dir, completed = trainer.train(config, run_dir)
    print(f"run: {run_dir}")
    return 0 if completed else INTERRUPTED


def check_resume_flags(parser: Parser, resume_dir: Path, given: dict) -> None:
    """Flags given with --resume must agree with the run's recorded config (--episodes may extend it)."""
    config_path = resume_dir / "config.json"
    if not config_path.is_file():
        parser.error(f"argument --resume: {resume_dir} holds no config.json; it is not a run folder")
    recorded = Config.load(config_path)
    for key, value in given.items():
        if key != "episodes" and getattr(recorded, key) != value:
            flag = "--" + key.replace("_", "-")
            parser.error(f"argument {flag}: {value!r} disagrees with the run's recorded {getattr(recorded, key)!r}")


def run_evaluate(argv: list[str]) -> int:
    args = evaluate_parser().parse_args(argv)
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
    if args.gif is not None:
        total = record_gif(policy, args.gif, seed=args.seed)
        print(f"gif: {args.gif} (return {total:.3f})")
    return 0


COMMANDS = {"evaluate": run_evaluate}


def main(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return run_train(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
