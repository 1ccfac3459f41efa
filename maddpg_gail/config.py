"""The one typed configuration of a run: every default, help line and allowed value lives here, every Config
is checked where it is made, and every run saves it.

A field is declared with `setting(default, help, rule)`: the CLI (maddpg_gail/cli.py) builds its flags, help
and defaults from these, and `Config.__post_init__` checks each field against its rule and then the rules that
span several fields. A bad value raises ConfigError, naming the field, the value and what is allowed; the CLI
prints the same message as a one-line usage error. Checks that need the environment built (observation
layouts, the dataset of --demos) are `Config.check_environment()`, run before any training.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from envs.backends import BACKENDS
from envs.scenarios import SCENARIOS

CRITICS = ("centralized", "independent")
REWARDS = ("env", "gail")
DISCRIMINATORS = ("decentralized", "centralized")
DISCRIMINATOR_REWARDS = ("softplus", "logit", "log_d")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "float32", "bfloat16")
ACTOR_INPUTS = ("observation", "distances", "assignment")
ALGORITHMS = ("maddpg", "matd3")
GRADIENT_ESTIMATORS = ("straight_through_gumbel", "gumbel_rao")
# Fields that only matd3 reads, and those that only discrete actions read: a changed value elsewhere would do nothing
MATD3_FIELDS = ("target_noise", "target_noise_clip", "policy_delay")
ESTIMATOR_FIELDS = ("gradient_estimator", "gumbel_rao_samples", "gumbel_temperature")
# and those that only continuous actions read (discrete actions explore by sampling the policy's softmax)
EXPLORATION_FIELDS = ("exploration_noise_start", "exploration_noise_end", "exploration_decay_episodes")
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """A Config field with a value it cannot take: `field` names it, the message says what is allowed."""

    def __init__(self, field_name: str, message: str, label: str | None = None, names_field: bool = False):
        super().__init__(message if names_field else f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.label = label or flag(field_name)  # how the CLI names it: the flag, with a value where that tells more


def flag(field_name: str) -> str:
    """The command-line flag of a Config field: its name in kebab-case."""
    return "--" + field_name.replace("_", "-")


# --- What each field may hold. `check` takes a Python value, `parse` the text of a flag or a config file. ---

@dataclass(frozen=True)
class Integer:
    low: int | None = None
    high: int | None = None

    @property
    def allowed(self) -> str:
        return {(None, None): "an integer", (1, None): "a positive integer", (0, None): "an integer >= 0"}.get(
            (self.low, self.high), f"an integer in [{self.low}, {self.high}]")

    def ok(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.low is None or value >= self.low) and (self.high is None or value <= self.high))

    def parse(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            return text  # not an integer: `check` refuses it, quoting the text


@dataclass(frozen=True)
class Real:
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    @property
    def allowed(self) -> str:
        return f"a number in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"

    def ok(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        return ((value > self.low if self.low_open else value >= self.low)
                and (value < self.high if self.high_open else value <= self.high))

    def parse(self, text: str) -> float | str:
        try:
            return float(text)
        except ValueError:
            return text


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def ok(self, value: Any) -> bool:
        return value in self.values

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Flag:
    allowed = "true or false"

    def ok(self, value: Any) -> bool:
        return isinstance(value, bool)

    def parse(self, text: str) -> bool | str:
        return {"true": True, "false": False}.get(text.lower(), text)


@dataclass(frozen=True)
class LayerSizes:
    allowed = "comma-separated positive layer sizes (e.g. 64,64)"

    def ok(self, value: Any) -> bool:
        return (isinstance(value, tuple) and len(value) > 0
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value))

    def parse(self, text: str) -> tuple[int, ...] | str:
        try:
            return tuple(int(s) for s in text.replace(",", " ").split())
        except ValueError:
            return text


@dataclass(frozen=True)
class OptionalPath:
    allowed = "a file name"

    def ok(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value != "")

    def parse(self, text: str) -> str:
        return text


@dataclass(frozen=True)
class Options:
    """The scenario's own keyword arguments, KEY=VALUE on the command line (values read as JSON)."""

    allowed = "KEY=VALUE options (e.g. N=4 local_ratio=0.5)"

    def ok(self, value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) and k for k in value)

    def parse_pairs(self, texts: list[str]) -> dict[str, Any]:
        pairs = {}
        for text in texts:
            key, sep, value = text.partition("=")
            if not sep or not key:
                raise ConfigError("env_kwargs", f"{text!r} is not KEY=VALUE (e.g. N=4 local_ratio=0.5)")
            try:
                pairs[key] = json.loads(value)
            except json.JSONDecodeError:
                pairs[key] = value
        return pairs


def setting(default: Any, help: str, rule: Any, **kwargs) -> Any:
    """A Config field: its default, its one-line help (shown by --help) and the rule of what it may hold."""
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return field(**factory, metadata={"help": help, "rule": rule}, **kwargs)


def replay_capacity(buffer_size: int, num_envs: int) -> int:
    """The transitions a replay buffer of `buffer_size` keeps: whole steps of the `num_envs` envs, so
    that row i + num_envs is always the same env's next step."""
    return max(num_envs, buffer_size - buffer_size % num_envs)


def episode_rounds(episodes: int, num_envs: int) -> int:
    """The rounds of `num_envs` envs that end at least `episodes` episodes of fixed length: the envs step, and
    end their episodes, together."""
    return -(-episodes // num_envs)


def run_capacity(config: Config) -> int:
    """The replay buffer's capacity for a run: `replay_capacity`, or fewer where the run cannot collect that many
    transitions: it stops at the first step of its envs by which `episodes` have ended, so at most
    episodes + num_envs - 1 have ended and num_envs more begun, of at most max_cycles steps each, the envs
    stepping together."""
    steps_per_env = (episode_rounds(config.episodes, config.num_envs) + 2) * config.max_cycles
    return min(replay_capacity(config.buffer_size, config.num_envs), steps_per_env * config.num_envs)


def needing_demonstrations(values: dict[str, Any]) -> str | None:
    """The field of these Config values that learns from demonstrations, so needs `demos`: a MAGAIL reward, a
    cloning start or a cloning term; None where none does. The one statement of that rule (Config checks it,
    variants.py asks it of a sweep's variants)."""
    if values["reward"] == "gail":
        return "reward"
    if values["bc_init"]:
        return "bc_init"
    return "bc_weight" if values["bc_weight"] > 0 else None


POSITIVE, NON_NEGATIVE = Integer(1), Integer(0)
RATE = Real(0, 1, low_open=True)
WEIGHT = Real(0, math.inf, high_open=True)

# Scenario options with fields of their own: in env_kwargs they would silently win over those fields.
OWN_FIELDS = ("max_cycles", "continuous_actions")


# The imitation recipe: MAGAIL starts from a clone, keeps a cloning term in the actors' loss, and trains its
# discriminators (and the clone) on samples turned by the plane's symmetries. It measured best or level with the
# best on two scenarios, three experts and 20 to 1000 demonstrations. On simple_spread_v3 the actors also see the
# agent-landmark distances and the landmark the least-total-distance assignment gives them (distances alone beyond
# 5 agents), and a bc run clones for 1000 epochs, MAGAIL's clone start for 100 (docs/imitation.md, "The defaults on
# experts never seen").
# envs stepped together: more make each step's fixed cost (acting, the batched env's numpy calls) a smaller share
# of a transition's, at the learning of 32 (docs/benchmarks.md); a run of fewer episodes steps as many envs as that
DEFAULT_NUM_ENVS = 128
RECIPE_BC_WEIGHT = 3.0
IMITATION_ACTOR_INPUTS = ("assignment", "distances")  # the first the scenario defines, under imitation
RECIPE_WARMUP_UPDATES = 2000  # critic-only updates, so that the discriminators' early reward leaves the clone intact
# epochs of cloning: a bc run's 1000 are best or level on spread and on 100 speaker-listener demonstrations; 20
# speaker-listener demonstrations want 3000 or more, and spread loses with them, so no one count is best everywhere
# (docs/imitation.md, "What the adversarial step adds on 20 demonstrations"). MAGAIL's clone start needs fewer, its
# cloning term trains on (MAGAIL scored the same at 100 epochs as at 300 on six datasets, and before that at 300 as
# at 1000; 100 saves 2 s a run: docs/imitation.md, "A shorter clone start")
BC_EPOCHS = 1000
MAGAIL_BC_EPOCHS = 100
# the actors' learning rate: MAGAIL fine-tunes the clone it starts from at a tenth of a run's from scratch. At 3e-3
# its spread runs fell below that clone as they trained, on every dataset measured (20 demonstrations: 0.80 against
# 0.95); at 3e-4 they keep its score, and the discriminators (at 3e-3, a step at every 16th update) cost half as
# much (docs/imitation.md, "MAGAIL fine-tunes its clone")
ACTOR_LR = 3e-3
MAGAIL_ACTOR_LR = 3e-4


def plane_symmetries_defined(config: Config) -> bool:
    from envs.features import has_plane_symmetries  # torch: loaded only for the runs that may use them

    return has_plane_symmetries(config.scenario, config.env_kwargs)


def clones(config: Config) -> bool:
    """Whether the actors learn from demonstrations by cloning: a bc run (no episodes), --bc-init or --bc-weight."""
    return config.demos is not None and (config.episodes == 0 or config.bc_init or config.bc_weight > 0)


def imitates(config: Config) -> bool:
    """Whether the run learns from demonstrations: MAGAIL's reward or cloning."""
    return config.reward == "gail" or clones(config)


def imitation_actor_inputs(config: Config) -> str:
    """Under imitation, the actors' inputs with the scenario's features where it has them, the first defined of
    IMITATION_ACTOR_INPUTS (an expert team's choice of landmarks depends on every agent-landmark distance at once,
    and its agents agree on it: small actors learn both poorly from offsets)."""
    from envs.features import has_actor_features

    if imitates(config):
        for name in IMITATION_ACTOR_INPUTS:
            if has_actor_features(name, config.scenario, config.env_kwargs):
                return name
    return "observation"


# Field -> its value where a Config leaves it unset (None), worked out from the fields above it (the order matters)
# and from those without a recipe. A saved config holds the values worked out, so a run resumes as it was trained.
RECIPE: dict[str, Callable[[Config], Any]] = {
    "num_envs": lambda config: min(DEFAULT_NUM_ENVS, config.episodes) if config.episodes > 0 else DEFAULT_NUM_ENVS,
    "bc_init": lambda config: config.reward == "gail",
    "bc_epochs": lambda config: MAGAIL_BC_EPOCHS if config.reward == "gail" else BC_EPOCHS,
    "bc_weight": lambda config: RECIPE_BC_WEIGHT if config.reward == "gail" else 0.0,
    "actor_lr": lambda config: MAGAIL_ACTOR_LR if config.reward == "gail" else ACTOR_LR,
    "actor_warmup_updates": lambda config: RECIPE_WARMUP_UPDATES if config.bc_init else 0,
    "discriminator_symmetries": lambda config: config.reward == "gail" and plane_symmetries_defined(config),
    "bc_symmetries": lambda config: clones(config) and plane_symmetries_defined(config),
    "actor_inputs": imitation_actor_inputs,
}
# Fields added after runs were saved whose default is not what those runs did: a saved config without one was trained
# with this value (`Config.from_saved`); a config file a user writes gets today's default.
SAVED_BEFORE_ADDED: dict[str, Any] = {"discriminator_update_every": 1, "precision": "float32"}
# The fields that say what kind of run a Config is; the recipe follows from them (`Config.defaults`).
KIND_FIELDS = ("scenario", "env_kwargs", "reward", "demos")


@dataclass
class Config:
    # environment
    scenario: str = setting("simple_spread_v3", "mpe2 scenario", Choice(SCENARIOS))
    env_kwargs: dict[str, Any] = setting(dict, "the scenario's own options, e.g. N=4 local_ratio=0.5 "
                                               "(values read as JSON)", Options())
    max_cycles: int = setting(25, "episode length", POSITIVE)
    continuous_actions: bool = setting(False, "Box(0, 1) actions instead of Discrete", Flag())
    num_envs: int | None = setting(None, f"envs stepped in parallel; default: {DEFAULT_NUM_ENVS}, or --episodes where "
                                         f"fewer", POSITIVE)
    env_backend: str = setting("batched", "batched: bit-identical to mpe2 (tests/test_batched_equivalence.py), "
                                          "~100x faster", Choice(BACKENDS))

    # algorithm
    critic: str = setting("centralized", "centralized = MADDPG, independent = DDPG per agent", Choice(CRITICS))
    algorithm: str = setting("maddpg", "maddpg, or matd3: twin critics with the minimum in the target, target "
                                       "policy smoothing, delayed actor and target updates (Fujimoto et al. 2018)",
                             Choice(ALGORITHMS))
    target_noise: float = setting(0.2, "matd3: std of the Gaussian noise on the target actors' raw outputs (logits "
                                       "or pre-sigmoid values) in the critics' target", WEIGHT)
    target_noise_clip: float = setting(0.5, "matd3: that noise clipped to [-clip, clip]", WEIGHT)
    policy_delay: int = setting(2, "matd3: critic updates per update of the actors and of all target networks",
                                POSITIVE)
    gradient_estimator: str = setting("straight_through_gumbel", "discrete actions' policy gradient: "
                                      "straight_through_gumbel (Gumbel-softmax), or gumbel_rao: its gradient "
                                      "averaged over Gumbel samples conditioned on the action (Paulus et al. 2021)",
                                      Choice(GRADIENT_ESTIMATORS))
    gumbel_rao_samples: int = setting(10, "gumbel_rao: conditional Gumbel samples per action", POSITIVE)
    gumbel_temperature: float = setting(1.0, "temperature of the soft samples whose gradient either estimator "
                                             "takes", Real(0, math.inf, low_open=True, high_open=True))
    hidden_sizes: tuple[int, ...] = setting((64, 64), "MLP layer sizes, e.g. 64,64", LayerSizes())
    stack_agents: bool = setting(True, "evaluate the agents whose networks have one shape as one batched network "
                                       "(the same math, faster); false: one network at a time", Flag())
    precision: str = setting("auto", "the updates' hidden layers and MAGAIL's rewards: float32, or bfloat16 (mixed "
                                     "precision: their matrix products in bfloat16; weights, outputs, losses and "
                                     "Adam in float32); auto: bfloat16 on a CPU that multiplies it natively "
                                     "(AVX512-BF16 or AMX), else float32",
                             Choice(PRECISIONS))
    actor_inputs: str | None = setting(None, "what the actors see: their observation; distances: it and the "
                                             "distance from every agent to every landmark; assignment: those and the "
                                             "landmark the agent takes when the agents share them out by least total "
                                             "distance (both simple_spread_v3, assignment up to 5 agents); default: "
                                             "assignment, else distances, where defined when imitating, else "
                                             "observation",
                                       Choice(ACTOR_INPUTS))
    actor_lr: float | None = setting(None, f"actors' Adam learning rate; default: {ACTOR_LR:g}, {MAGAIL_ACTOR_LR:g} "
                                           f"under --reward gail (it fine-tunes a clone)", RATE)
    critic_lr: float = setting(3e-3, "critics' Adam learning rate", RATE)
    # 0.8, not the usual 0.95: 25-step episodes that end by truncation, bootstrapped from states that do not show
    # the time left; measured in docs/benchmarks.md ("The discount")
    gamma: float = setting(0.8, "discount", Real(0, 1, high_open=True))
    n_step: int = setting(3, "steps in the critic's return before bootstrapping (cut at episode ends)", POSITIVE)
    tau: float = setting(0.01, "soft target update rate", RATE)
    batch_size: int = setting(512, "transitions per update", POSITIVE)
    buffer_size: int = setting(1_000_000, "replay buffer capacity in transitions", POSITIVE)
    grad_clip: float = setting(0.5, "gradient norm clip", Real(0, math.inf, low_open=True, high_open=True))
    logits_regularization: float = setting(1e-3, "keeps discrete logits (continuous pre-activations) from "
                                                 "drifting", WEIGHT)
    learning_starts: int = setting(1024, "transitions in the buffer before the first update", NON_NEGATIVE)
    update_every: int = setting(50, "transitions collected between rounds of updates", POSITIVE)
    updates_per_round: int = setting(1, "updates per round", POSITIVE)
    exploration_noise_start: float = setting(0.3, "std of the Gaussian noise on continuous actions (Box [0, 1]) "
                                                  "at the first episode", WEIGHT)
    exploration_noise_end: float = setting(0.05, "... once decayed", WEIGHT)
    exploration_decay_episodes: int = setting(20_000, "episodes over which the noise decays linearly: absolute, "
                                                      "it does not follow --episodes", POSITIVE)

    # imitation: MAGAIL (Song et al. 2018) and behaviour cloning
    reward: str = setting("env", "env: the environment's reward; gail: MAGAIL's per-agent discriminators "
                                 "(needs --demos)", Choice(REWARDS))
    demos: str | None = setting(None, "expert demonstrations (.npz, see README) for --reward gail, --bc-init, "
                                      "--bc-weight and bc", OptionalPath())
    discriminator: str = setting("decentralized", "decentralized: D_i sees agent i's (o, a); centralized: all "
                                                  "agents'", Choice(DISCRIMINATORS))
    discriminator_reward: str = setting("softplus", "softplus = -log(1 - D), logit = log D - log(1 - D), "
                                                    "log_d = log D", Choice(DISCRIMINATOR_REWARDS))
    discriminator_lr: float = setting(3e-3, "discriminators' learning rate", RATE)
    discriminator_grad_penalty: float = setting(10.0, "keeps D smooth so its reward stays informative", WEIGHT)
    discriminator_label_smoothing: float = setting(0.0, "label smoothing of D's targets", Real(0, 0.5, high_open=True))
    discriminator_update_every: int = setting(16, "updates per discriminator step: the discriminators learn at every "
                                                 "k-th update of the actors and critics (1/k of D's cost, and a "
                                                 "reward that moves less under the critics)", POSITIVE)
    discriminator_state_matched: float = setting(0.0, "fraction of D's policy samples that pair expert "
                                                      "observations with the policy's own actions", Real(0, 1))
    discriminator_symmetries: bool | None = setting(
        None, "train D on samples turned by the plane's 8 rotations and reflections (envs/symmetries.py); "
              "default: on under --reward gail wherever the scenario has them", Flag())
    bc_init: bool | None = setting(None, "behaviour-clone the actors before training; default: on under --reward gail",
                                   Flag())
    bc_epochs: int | None = setting(None, f"epochs over the demonstrations, for bc and --bc-init; default: "
                                          f"{BC_EPOCHS}, {MAGAIL_BC_EPOCHS} under --reward gail", POSITIVE)
    bc_batch_size: int = setting(256, "expert samples per cloning step: of bc and --bc-init, and of the cloning term "
                                      "at each actor update", POSITIVE)
    bc_lr: float = setting(1e-3, "behaviour cloning learning rate", RATE)
    bc_weight: float | None = setting(None, "weight of a behaviour-cloning term in each actor's loss (needs --demos); "
                                            f"default: {RECIPE_BC_WEIGHT:g} under --reward gail, else 0", WEIGHT)
    bc_symmetries: bool | None = setting(None, "clone (bc, --bc-init, --bc-weight) on demonstrations turned as "
                                               "--discriminator-symmetries does; default: on wherever the actors "
                                               "clone and the scenario has them", Flag())
    relabel_entities: bool = setting(False, "the symmetries also permute the agents and the landmarks "
                                            "(simple_spread_v3): only for experts that treat their agents alike",
                                     Flag())
    actor_warmup_updates: int | None = setting(None, "updates that train the critics only, so that a --bc-init "
                                                     f"clone stays intact; default: {RECIPE_WARMUP_UPDATES} with "
                                                     "--bc-init, else 0", NON_NEGATIVE)

    # run
    episodes: int = setting(30_000, "episodes to train (0: none, as a bc run records)", NON_NEGATIVE)
    seed: int = setting(0, "seeds the networks, the buffer and the episodes", Integer(0, MAX_SEED))
    device: str = setting("auto", "torch device; auto: cuda if there is one", Choice(DEVICES))
    eval_interval: int = setting(1000, "episodes between greedy evaluations written to metrics.csv", POSITIVE)
    eval_episodes: int = setting(20, "episodes of each greedy evaluation", POSITIVE)
    save_interval: int = setting(5000, "episodes between checkpoints and GIFs", POSITIVE)
    # False for a sweep's base, which never runs itself: its variants' configs (`replace`) are checked in full, so a
    # base of --reward env may carry --relabel-entities for its magail and bc variants
    check_combinations: dataclasses.InitVar[bool] = True

    def __post_init__(self, check_combinations: bool = True) -> None:
        # JSON and YAML have no tuples; a file's [64, 64] is the layer sizes (64, 64)
        if isinstance(self.hidden_sizes, list):
            self.hidden_sizes = tuple(self.hidden_sizes)
        # the fields left to the recipe: worked out again by `replace` where the fields they follow from change
        self.auto_fields = tuple(name for name in RECIPE if getattr(self, name) is None)
        for f in dataclasses.fields(self):
            if f.name in self.auto_fields:
                continue
            rule, value = f.metadata["rule"], getattr(self, f.name)
            if isinstance(rule, Real) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # 1 is as good a learning rate as 1.0
                setattr(self, f.name, value)
            if not rule.ok(value):
                raise ConfigError(f.name, f"{value!r} is not {rule.allowed}")
        for name in self.auto_fields:
            setattr(self, name, RECIPE[name](self))
        if check_combinations:
            self._check_combinations()

    def _check_combinations(self) -> None:
        """The rules that span several fields and need no environment built."""
        for key in OWN_FIELDS:
            if key in self.env_kwargs:
                raise ConfigError("env_kwargs", f"{key} has a flag of its own: use {flag(key)}")
        if self.env_kwargs:
            from envs.scenarios import validate_env_kwargs

            try:
                validate_env_kwargs(self.scenario, self.env_kwargs)
            except ValueError as error:
                raise ConfigError("env_kwargs", str(error)) from None
        if self.relabel_entities and not (self.discriminator_symmetries or self.bc_symmetries):
            raise ConfigError("relabel_entities", "it adds to the symmetries, so it needs --discriminator-symmetries "
                                                  "or --bc-symmetries")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in MATD3_FIELDS:
            if self.algorithm != "matd3" and getattr(self, name) != defaults[name]:
                raise ConfigError(name, "only --algorithm matd3 uses it")
        for name in ESTIMATOR_FIELDS:
            if self.continuous_actions and getattr(self, name) != defaults[name]:
                raise ConfigError(name, "a gradient estimator of discrete actions: --continuous-actions has none")
        for name in EXPLORATION_FIELDS:
            if not self.continuous_actions and getattr(self, name) != defaults[name]:
                raise ConfigError(name, "the exploration noise of continuous actions: discrete actions explore by "
                                        "sampling the policy, so it needs --continuous-actions")
        if self.gradient_estimator != "gumbel_rao" and self.gumbel_rao_samples != defaults["gumbel_rao_samples"]:
            raise ConfigError("gumbel_rao_samples", "only --gradient-estimator gumbel_rao uses it")
        capacity = replay_capacity(self.buffer_size, self.num_envs)
        name, first_update = max(("learning_starts", self.learning_starts), ("batch_size", self.batch_size),
                                 key=lambda pair: pair[1])
        if first_update > capacity:  # the buffer would never hold enough transitions for the first update
            raise ConfigError(name, f"{first_update} is more than the replay buffer holds ({capacity} transitions: "
                                    f"--buffer-size {self.buffer_size} in whole steps of --num-envs "
                                    f"{self.num_envs}), so no update would ever run")
        needs = needing_demonstrations(self.to_dict())
        if needs and self.demos is None:
            raise ConfigError(needs, "needs --demos DATASET.npz (e.g. from `main.py collect`)",
                              "--reward gail" if needs == "reward" else None)

    def check_environment(self) -> list[int]:
        """The checks that need the environment: it builds and steps with these options, the symmetries,
        relabellings and actor inputs fit its observations, and --demos is a dataset of this very env.
        ConfigError as __post_init__ raises; returns each agent's observation size."""
        from envs import make_parallel_env
        from envs.features import actor_features, agent_layouts, relabellings

        try:
            env = make_parallel_env(self.scenario, self.parallel_env_kwargs())
            env.reset(seed=self.seed)
            env.step({agent: env.action_space(agent).sample() for agent in env.agents})
            env.close()
            obs_dims = [int(env.observation_space(agent).shape[0]) for agent in env.possible_agents]
        except Exception as error:  # a scenario raises any type for an option it cannot take: TypeError, AssertionError...
            given = " ".join(f"{key}={json.dumps(value)}" for key, value in self.env_kwargs.items()) or "its defaults"
            reason = " ".join(f"{type(error).__name__}: {error}".split())
            raise ConfigError("env_kwargs", f"{self.scenario} does not build with {given} ({reason})") from None
        for name in ("discriminator_symmetries", "bc_symmetries"):
            if getattr(self, name):
                try:
                    agent_layouts(self.scenario, self.env_kwargs)
                except ValueError as error:
                    raise ConfigError(name, str(error)) from None
        if self.relabel_entities:
            try:
                relabellings(self.scenario, self.env_kwargs, obs_dims)
            except ValueError as error:
                raise ConfigError("relabel_entities", str(error)) from None
        try:
            actor_features(self.actor_inputs, self.scenario, self.env_kwargs, obs_dims)
        except ValueError as error:
            raise ConfigError("actor_inputs", str(error)) from None
        if self.demos is not None:
            from maddpg_gail.demonstrations import DemonstrationsError, load_demonstrations

            try:
                load_demonstrations(Path(self.demos), self.scenario, self.parallel_env_kwargs())
            except DemonstrationsError as error:
                raise ConfigError("demos", str(error)) from None
        return obs_dims

    def parallel_env_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for `mpe2.<scenario>.parallel_env`."""
        return {**self.env_kwargs, "max_cycles": self.max_cycles, "continuous_actions": self.continuous_actions}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        """This Config with `changes`; the fields it left to the recipe are worked out again for the new values
        (a sweep's magail variant, on a base config of --reward env, gets MAGAIL's recipe)."""
        kept = {k: v for k, v in self.to_dict().items() if k not in self.auto_fields}
        return Config(**{**kept, **changes})

    def defaults(self, keep: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every field as a run of this kind (`KIND_FIELDS`, and cloning alone where it trains no episodes) has
        it by default: what a run is named against, so a MAGAIL run is not named by the recipe it follows.
        `keep`: fields taken as this config has them too, so that what the recipe works out from them (a
        --bc-init run's cloning symmetries) counts as a default."""
        kind = {name: getattr(self, name) for name in (*KIND_FIELDS, *keep)}
        return Config(**{**({"episodes": 0} if self.episodes == 0 else {}), **kind}).to_dict()

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> Config:
        """The Config of a run saved by this or an earlier version (a checkpoint's or a run folder's): the fields
        added since with a default that changes what a run does take the value the run was trained with."""
        return cls.from_dict({**SAVED_BEFORE_ADDED, **values})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """A Config of these values (the others at their defaults); ConfigError for an unknown key or a bad value."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config keys: {', '.join(unknown)}", names_field=True)
        return cls(**values)

    def differences(self, other: dict[str, Any], ignore: tuple[str, ...] = ("episodes",)) -> list[str]:
        """The fields whose values in `other` (a `to_dict`) differ from this Config's, bar `ignore`: by default the
        episode total, which a resumed run may raise and still be the same run."""
        mine = self.to_dict()
        return [key for key, value in mine.items() if key not in ignore and other[key] != value]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Config:
        """The Config of a JSON or YAML file (a run's config.json, or any subset of the fields)."""
        return cls.from_dict(read_config_file(path))


def read_config_file(path: Path) -> dict[str, Any]:
    """The fields a JSON or YAML config file sets; ValueError where it is not a mapping of fields."""
    text = Path(path).read_text()
    if Path(path).suffix in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
        # YAML 1.1 reads 1e-3 (no dot) as a string; a number field takes it as the number it spells
        rules = {f.name: f.metadata["rule"] for f in dataclasses.fields(Config)}
        if isinstance(values, dict):
            values = {k: rules[k].parse(v) if isinstance(rules.get(k), Real) and isinstance(v, str) else v
                      for k, v in values.items()}
    else:
        values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a config file holds a mapping of field: value, not {type(values).__name__}")
    return values


def field_rule(name: str) -> Any:
    return next(f.metadata["rule"] for f in dataclasses.fields(Config) if f.name == name)
