"""The variants a comparison trains: the one table of them (VARIANTS), "maddpg actor_lr=1e-3"-style specs on
top of them, and the variant a run's config belongs to.

maddpg and iddpg learn from the environment's reward; magail and magail-centralized from discriminators of
expert demonstrations (decentralized or centralized D); bc clones the expert's actions without any episode
of reinforcement learning. The imitation variants need `config.demos`.

Changes here when a way to train is added or renamed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from maddpg_gail.config import RECIPE, Config, Options, needing_demonstrations


@dataclass(frozen=True)
class Variant:
    """A named way to train: the Config fields that define it."""

    overrides: dict[str, Any]

    @property
    def cloning(self) -> bool:
        """Behaviour cloning (`trainer.clone`): the actors learn from the demonstrations in no episodes at all."""
        return self.overrides.get("episodes") == 0

    @property
    def needs_demos(self) -> bool:
        return learns_from_demos(self, {})


# The one table of variants; its order is the order of the results table and the curves' colors.
VARIANTS: dict[str, Variant] = {
    "maddpg": Variant({"critic": "centralized", "reward": "env"}),
    "iddpg": Variant({"critic": "independent", "reward": "env"}),
    "magail": Variant({"critic": "centralized", "reward": "gail", "discriminator": "decentralized"}),
    "magail-centralized": Variant({"critic": "centralized", "reward": "gail", "discriminator": "centralized"}),
    "bc": Variant({"episodes": 0}),
}


class CompareError(Exception):
    """A sweep or report that cannot go ahead; the message says why in one line."""


def run_name(variant: str, seed: int) -> str:
    return f"{variant}__s{seed}"


def variant_config(base: Config, variant: str, seed: int) -> Config:
    return base.replace(**VARIANTS[variant].overrides, seed=seed)


@dataclass(frozen=True)
class VariantSpec:
    """A variant of a sweep: a named variant and Config fields set on top of it, e.g. "maddpg actor_lr=1e-3"."""

    base: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:  # the run folders' prefix: out/<name>__s<seed>, each value as it is typed
        return "__".join([self.base, *(f"{k}={typed(v)}" for k, v in self.overrides)])

    @property
    def needs_demos(self) -> bool:
        return learns_from_demos(VARIANTS[self.base], dict(self.overrides))

    def config(self, base: Config, seed: int) -> Config:
        return variant_config(base, self.base, seed).replace(**dict(self.overrides))


def learns_from_demos(variant: Variant, overrides: dict[str, Any]) -> bool:
    """Whether `variant`, with these fields set on top, learns from demonstrations: it clones, or its fields
    need them by Config's rule (`needing_demonstrations`)."""
    values = {**Config().to_dict(), **variant.overrides, **overrides}
    return variant.cloning or needing_demonstrations(values) is not None


def typed(value: Any) -> str:
    """A field's value as a flag takes it: 64,64 for layer sizes, true/false, and plain text otherwise."""
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return json.dumps(value) if isinstance(value, bool) else str(value)


def difference_name(values: dict[str, Any], but: tuple[str, ...] = ()) -> str:
    """A folder name for a study: the fields of `values` that differ from Config's defaults, as typed
    ("episodes=100000__actor_lr=0.001"), bar those in `but` and those left to the recipe (None); "defaults"
    where none does."""
    defaults = Config().to_dict()
    values = {k: tuple_of(v) for k, v in values.items()}  # JSON and to_dict hold layer sizes as lists
    words = [f"{k}={typed(v)}" for k, v in values.items()
             if k not in but and k in defaults and v is not None and v != tuple_of(defaults[k])]
    return "__".join(words) or "defaults"


def tuple_of(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def needing_demos(variants: Iterable[VariantSpec]) -> list[str]:
    """The names of the variants that learn from demonstrations (`Variant.needs_demos`)."""
    return [v.name for v in variants if v.needs_demos]


def parse_variants(texts: Iterable[str], demos_given: bool) -> list[VariantSpec]:
    """--variants: names ("maddpg"), comma-separated names ("maddpg,iddpg"), a name with Config fields set
    ("maddpg actor_lr=1e-3 tau=0.05"), or a YAML file listing such strings. None given: every variant, or
    without demonstrations those that need none. CompareError names what cannot be read."""
    words: list[str] = []
    for text in texts:
        if text.endswith((".yaml", ".yml")):
            import yaml

            try:
                listed = yaml.safe_load(Path(text).read_text())
            except (OSError, yaml.YAMLError) as error:
                raise CompareError(f"{text}: not a readable YAML list of variants ({error})") from None
            if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
                raise CompareError(f"{text}: a variants file is a YAML list of strings, e.g. - maddpg actor_lr=1e-3")
            words += listed
        elif " " in text.strip():
            words.append(text)
        else:
            words += text.split(",")
    if not words:
        return [VariantSpec(name) for name in VARIANTS if demos_given or not VARIANTS[name].needs_demos]
    specs = [parse_variant(word) for word in words]
    if len({spec.name for spec in specs}) < len(specs):
        raise CompareError(f"{' '.join(texts)!r} names a variant twice")
    return specs


def parse_variant(word: str) -> VariantSpec:
    """ "maddpg actor_lr=1e-3 hidden_sizes=128,128": each value read as its flag reads it (the field's rule)."""
    rules = {f.name: f.metadata["rule"] for f in dataclasses.fields(Config)}
    name, *pairs = word.split()
    if name not in VARIANTS:
        raise CompareError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise CompareError(f"{word!r}: {pair!r} is not FIELD=VALUE (e.g. actor_lr=1e-3)")
        if key not in rules or key == "seed" or isinstance(rules[key], Options):
            raise CompareError(f"{word!r}: {key!r} is not a Config field a variant can set"
                               + (" (--seeds sets the seeds)" if key == "seed" else "")
                               + (" (give it to all variants with --env-kwargs)" if key == "env_kwargs" else ""))
        value = rules[key].parse(text)
        if not rules[key].ok(value):
            raise CompareError(f"{word!r}: {key}: {text!r} is not {rules[key].allowed}")
        overrides[key] = value
    return VariantSpec(name, tuple(overrides.items()))


def variant_of(config: Config, run_dir: Path) -> str:
    """The variant a run's config belongs to, with a "+..." label for each way it starts from or leans on
    demonstrations beyond that variant (e.g. "maddpg+bc-init", "magail+bc-weight=0.5").

    A run of no episodes is behaviour cloning whatever its other fields (its reward and critic are the
    defaults, which would read as maddpg); any other run is the variant whose overrides it has.
    """
    values = config.to_dict()
    matches = [name for name, variant in VARIANTS.items()
               if variant.cloning == (config.episodes == 0)
               and all(values[k] == v for k, v in variant.overrides.items())]
    if len(matches) != 1:
        raise CompareError(f"{run_dir}: its config matches {len(matches)} of the variants {', '.join(VARIANTS)}")
    if VARIANTS[matches[0]].cloning:
        return matches[0]
    # MAGAIL's own recipe is not an extra, nor the warm-up that the recipe gives a clone start
    defaults = {**config.defaults(), "actor_warmup_updates": RECIPE["actor_warmup_updates"](config)}
    extras = [("bc-init" if config.bc_init else "no-bc-init", "bc_init"),
              (f"bc-weight={config.bc_weight:g}", "bc_weight"),
              (f"warmup={config.actor_warmup_updates}", "actor_warmup_updates")]
    return matches[0] + "".join(f"+{label}" for label, name in extras if values[name] != defaults[name])


def base_variant(label: str) -> str:
    return label.split("+")[0].split(" ")[0]
