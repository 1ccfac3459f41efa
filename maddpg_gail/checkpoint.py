"""Checkpoint files: written atomically, read with clear errors.

A write goes to a temporary file in the same folder and is renamed over the target, so a
crash, a full disk or a kill mid-write leaves the previous checkpoint whole. Every file written by
`save_torch_file` records a SHA-256 of its whole contents (every tensor's bytes, every value), and
`load_torch_file` refuses one whose contents no longer match: a flipped bit would otherwise load as a
slightly different policy without a word.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from envs import env_spaces
from maddpg_gail.config import Config, read_config_file
from maddpg_gail.files import atomic_path
from maddpg_gail.networks import ActionSpec

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "config", "agents", "obs_dims", "action_specs", "counters", "learner")
DIGEST_KEY = "sha256"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names the file and what is wrong, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # torch's own messages (quoted in ours) span lines


def state_digest(value: Any) -> str:
    """SHA-256 of a saved structure: every tensor's dtype, shape and bytes, every other value, every key."""
    digest = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            tensor = item.detach().cpu().contiguous()
            digest.update(f"T{tensor.dtype}{tuple(tensor.shape)};".encode())
            digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
        elif isinstance(item, dict):
            digest.update(f"D{len(item)};".encode())
            for key in sorted(item, key=repr):
                feed(key)
                feed(item[key])
        elif isinstance(item, (list, tuple)):
            digest.update(f"{type(item).__name__[0]}{len(item)};".encode())
            for element in item:
                feed(element)
        else:  # str, int, float (repr is exact), bool, None
            digest.update(f"{type(item).__name__}:{item!r};".encode())

    feed(value)
    return digest.hexdigest()


def save_torch_file(state: dict[str, Any], path: Path) -> None:
    """Write a dict of tensors and plain values atomically, with the SHA-256 of its contents."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        try:
            torch.save({**state, DIGEST_KEY: state_digest(state)}, file)
        except RuntimeError as error:
            # torch's zip writer turns a failed write (e.g. ENOSPC) into a RuntimeError; the OSError is its context.
            if isinstance(error.__context__, OSError):
                raise error.__context__ from None
            raise


def load_torch_file(path: Path, map_location: str | torch.device = "cpu", what: str = "checkpoint") -> dict[str, Any]:
    """Read a file of `save_torch_file` (a checkpoint or a policy file) with `weights_only=True` (no arbitrary
    code); CheckpointError naming the file when it is missing, unreadable, not a dict, or its contents do not
    match their recorded SHA-256. A file without a digest (written before digests were recorded) is taken as
    it is."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no {what} file there")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty, not a {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the pickle protocol of files it then refuses
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file makes torch raise nearly any type: KeyError, IndexError, ...
        raise CheckpointError(
            f"{path}: not a readable {what}: truncated, damaged or another file ({describe_load_error(error)})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a maddpg-gail {what} (it holds a {type(state).__name__}, not a dict)")
    recorded = state.pop(DIGEST_KEY, None)
    if recorded is not None and recorded != state_digest(state):
        raise CheckpointError(f"{path}: its contents do not match the SHA-256 recorded when it was written: "
                              f"the file is damaged or was edited; it is not used")
    return state


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    save_torch_file({"format_version": FORMAT_VERSION, **state}, path)


def find_checkpoint(run_dir_or_file: Path) -> Path:
    path = Path(run_dir_or_file)
    if path.is_dir():
        path = path / "checkpoints" / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint there (expected a run folder or a .pt checkpoint file)")
    return path


def describe_load_error(error: Exception) -> str:
    """torch.load's failure in a few words: its messages run to paragraphs of advice."""
    text = str(error)
    refused = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)  # the one informative line of those
    line = refused.group(1) if refused else next((s for s in text.splitlines() if s.strip()), "")
    return f"{type(error).__name__}: {line.split('. ')[0][:160]}"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (no arbitrary code), naming the file on any failure.

    Beyond being readable, it must be a maddpg-gail checkpoint of the current format whose agents,
    observation sizes and action spaces are those of the env its config builds.
    """
    path = Path(path)
    state = load_torch_file(path, map_location)
    return check_state(path, state, REQUIRED_KEYS, "checkpoint")


def check_state(path: Path, state: dict[str, Any], required: tuple[str, ...], what: str) -> dict[str, Any]:
    """A checkpoint or policy file of the current format with `required` keys, fitting the env of its config."""
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a maddpg-gail {what} (it lacks {', '.join(missing)})")
    if state["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: {what} format {state['format_version']} is not the supported {FORMAT_VERSION}"
        )
    check_fits_its_env(path, state)
    return state


def check_fits_its_env(path: Path, state: dict[str, Any]) -> None:
    """The agents, observation sizes and action spaces saved must be those of the env the saved config builds,
    so that a checkpoint pieced together from two runs, or edited, fails here and not in the middle of a run."""
    try:
        config = Config.from_saved(state["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its config is not one of this version ({error})") from None
    try:
        found = env_spaces(config.scenario, config.parallel_env_kwargs())
    except Exception as error:  # a scenario's constructor raises any type for options it cannot take
        raise CheckpointError(f"{path}: its config's env does not build ({type(error).__name__}: {error})") from None
    expected = {
        "agents": found.agents,
        "obs_dims": found.obs_dims,
        "action_specs": [dataclasses.asdict(ActionSpec.from_space(found.action_spaces[a])) for a in found.agents],
    }
    env_name = f"{config.scenario} {config.env_kwargs}" if config.env_kwargs else config.scenario
    for key, value in expected.items():
        if not isinstance(state[key], list) or state[key] != value:
            raise CheckpointError(f"{path}: its {key} are {state[key]}, but its env ({env_name}) has {value}")


def check_same_run(path: Path, state: dict[str, Any], config_path: Path) -> None:
    """A checkpoint copied in from another run would otherwise continue that run in this folder."""
    saved = Config.from_saved(state["config"]).to_dict()
    recorded = Config.from_saved(read_config_file(config_path))
    for key in recorded.differences(saved)[:1]:
        raise CheckpointError(
            f"{path}: it is of another run: its {key} is {saved[key]!r}, {config_path} says {getattr(recorded, key)!r}"
        )
