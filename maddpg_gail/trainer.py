"""The training loop: collect from K envs, learn off-policy, log, evaluate, checkpoint, resume.

    for each step of the K envs:
        a_i ~ mu_i(o_i) + exploration            (decentralized, one batched forward per agent)
        store (o, a, r, o', terminated) x K       (truncation at max_cycles is not termination)
        every `update_every` transitions: the imitation step (MAGAIL: the discriminators learn, every
            `discriminator_update_every`-th time), then
            sample a batch (its rewards the imitation's where it has them), update critics, actors
            (plus the imitation's actor loss), targets
        on finished episodes: log returns; on intervals: evaluate greedily, checkpoint, GIF
"""

from __future__ import annotations

import csv
import io
import signal
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import progressbar
import torch

from envs import make_vector_env, teams
from maddpg_gail.buffer import ReplayBuffer
from maddpg_gail import run_folder
from maddpg_gail.checkpoint import CHECKPOINT_NAME, CheckpointError, check_same_run, load_checkpoint, save_checkpoint
from maddpg_gail.config import Config, episode_rounds, run_capacity
from maddpg_gail.files import WriteError, atomic_path
from maddpg_gail.evaluation import EvaluationResult, evaluate, record_gif, team_returns
from maddpg_gail.demonstrations import DemonstrationsError
from maddpg_gail.event_log import EventLog
from maddpg_gail.imitation import Imitation
from maddpg_gail.maddpg import MADDPG
from maddpg_gail.networks import ActionSpec, NonFiniteError
from maddpg_gail.policy import BEST_POLICY_NAME, POLICY_NAME, Policy, policy_state, save_policy, spec_dicts
from maddpg_gail.gif_summary import add_gif

EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never share seeds with training episodes


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("'cuda': torch sees no CUDA device on this machine; use cpu or auto")
    if name == "cpu":
        # Small MLPs gain nothing from intra-op threads, and lose badly when another process is busy.
        torch.set_num_threads(1)
    return torch.device(name)


def same_device(a: str, b: str) -> bool:
    """Whether two --device values resolve to the same kind of device here ("auto" is cuda or cpu)."""
    kinds = [("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name for name in (a, b)]
    return kinds[0] == kinds[1]


def default_run_dir(config: Config, root: Path = Path("runs"), kind: str | None = None) -> Path:
    """runs/<scenario>__<kind>__s<seed>__<time>, kind being the critic, "gail-<critic>" or "bc", with "matd3-" before
    a critic that matd3 trains."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if kind is None:
        kind = config.critic if config.reward == "env" else f"{config.reward}-{config.critic}"
        if config.algorithm == "matd3":
            kind = f"matd3-{kind}"
    return root / f"{config.scenario}__{kind}__s{config.seed}__{stamp}"


@dataclass
class Counters:
    episodes: int = 0
    env_steps: int = 0  # transitions collected, K per step of the vector env
    updates: int = 0


class StopRequest:
    """SIGINT/SIGTERM ask the loop to stop after the current episode instead of dying mid-write."""

    def __init__(self) -> None:
        self.requested = False

    def _handler(self, signum, frame) -> None:
        # A second Ctrl-C means now. SIGTERM does not escalate: a kill of a compare's process group reaches each
        # worker twice (directly and forwarded by the compare), and schedulers may repeat it before their SIGKILL.
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: finishing the current episode, then saving", file=sys.stderr)

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def read_metrics_rows(path: Path) -> list[dict[str, str]]:
    """metrics.csv's rows, less a last one that a kill cut short (every whole row ends with a line break)."""
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text, newline="")))


class MetricsCsv:
    """metrics.csv: one row per evaluation, readable by any script."""

    def __init__(self, path: Path, agents: list[str], episodes_done: int):
        self.path = path
        self.fields = ["episodes", "env_steps", "updates", "wall_time_s", "train_return_sum", "eval_return_sum"]
        self.fields += [f"eval_return/{a}" for a in agents]
        rows = []
        if path.exists():  # a resumed run: rows written after its checkpoint (a kill -9) are written again
            rows = [r for r in read_metrics_rows(path) if int(r["episodes"]) <= episodes_done]
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, row: dict) -> None:
        try:
            with self.path.open("a", newline="") as f:
                csv.writer(f).writerow([row[k] for k in self.fields])
        except OSError as error:  # a full disk: the OSError of a write names no file
            raise WriteError(f"{self.path}: not written ({error.strerror or error}); training stopped, "
                             f"the last checkpoint is intact") from error


@dataclass
class Trainer:
    config: Config
    run_dir: Path

    def __post_init__(self) -> None:
        cfg = self.config
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.env = make_vector_env(cfg.scenario, cfg.parallel_env_kwargs(), cfg.num_envs, cfg.env_backend)
        self.agents = self.env.agents
        self.obs_dims = [int(self.env.observation_spaces[a].shape[0]) for a in self.agents]
        self.action_specs = [ActionSpec.from_space(self.env.action_spaces[a]) for a in self.agents]
        self.learner = MADDPG(self.obs_dims, self.action_specs, cfg, self.device)
        self.buffer = ReplayBuffer(  # memory for what this run can collect, at most buffer_size
            run_capacity(cfg), self.obs_dims, [s.dim for s in self.action_specs], self.device, seed=cfg.seed,
            num_envs=cfg.num_envs, n_step=cfg.n_step, gamma=cfg.gamma,
        )
        self.imitation = Imitation(cfg, self.obs_dims, self.action_specs, self.device)  # does nothing without demos
        self.policy = Policy(cfg.scenario, cfg.parallel_env_kwargs(), self.agents, self.learner.actors, cfg.demos)
        self.teams = teams(cfg.scenario, cfg.parallel_env_kwargs())  # {} unless competitive
        self.best_eval = -float("inf")  # the best evaluation's return summed over agents, kept as best_policy.pt
        self.last_evaluation: EvaluationResult | None = None
        self.counters = Counters()
        self.wall_time = 0.0  # seconds of training, summed over resumed sessions
        self.recent_returns: list[np.ndarray] = []  # training returns since the last metrics row
        self.episode_returns = np.zeros((cfg.num_envs, len(self.agents)))
        self.obs = self.env.reset(cfg.seed)
        self._bar_redrawn = 0.0

    # --- one step of the algorithm ------------------------------------------------------------

    def noise_std(self) -> float:
        cfg = self.config
        progress = min(1.0, self.counters.episodes / max(1, cfg.exploration_decay_episodes))
        return cfg.exploration_noise_start + progress * (cfg.exploration_noise_end - cfg.exploration_noise_start)

    def collect_step(self) -> np.ndarray:
        """Act in all K envs, store the transitions; returns the returns [n_done, n_agents] of finished episodes."""
        obs = [torch.as_tensor(self.obs[a], device=self.device) for a in self.agents]
        actions = self.learner.act(obs, self.noise_std())
        stored_actions = [act.cpu().numpy() for act in actions]
        self.check_finite("action", stored_actions)
        step = self.env.step({a: spec.to_env(act) for a, spec, act in zip(self.agents, self.action_specs, actions)})
        rewards = np.stack([step.rewards[a] for a in self.agents], axis=1)
        self.check_finite("reward", rewards.T)
        self.check_finite("observation", [step.next_observations[a] for a in self.agents])
        done = step.terminated | step.truncated
        if done.any():  # the first observations of the episodes that just began
            self.check_finite("observation", [step.observations[a] for a in self.agents])
        self.buffer.add(
            [self.obs[a] for a in self.agents],
            stored_actions,
            rewards,
            [step.next_observations[a] for a in self.agents],
            step.terminated,
            step.truncated,
        )
        self.obs = step.observations
        self.counters.env_steps += self.env.num_envs
        self.episode_returns += rewards
        finished = self.episode_returns[done].copy()
        self.episode_returns[done] = 0.0
        return finished

    def learn(self, diagnostics: bool = True) -> dict[str, torch.Tensor] | None:
        """The updates due after the transitions collected so far; returns the stats of the last, with its
        `diagnostics` (MADDPG.update) where asked for, or None where none was due."""
        cfg = self.config
        if len(self.buffer) < max(cfg.learning_starts, cfg.batch_size):
            return None
        stats = None
        due = self.counters.env_steps // cfg.update_every * cfg.updates_per_round
        while self.counters.updates < due:
            # MAGAIL: the discriminators learn (at every discriminator_update_every-th update)
            imitation_stats = self.imitation.step(self.buffer, self.explore, self.counters.updates)
            batch = self.buffer.sample(cfg.batch_size, reward_fn=self.imitation.reward_fn)
            update_actors = self.counters.updates >= cfg.actor_warmup_updates
            last = self.counters.updates == due - 1
            stats = self.learner.update(batch, update_actors, self.imitation.actor_loss(update_actors),
                                        diagnostics=diagnostics and last)
            stats.update(imitation_stats)
            self.counters.updates += 1
            if not torch.isfinite(torch.stack(list(stats.values()))).all():  # one check of all losses and norms
                for name, per_agent in stats.items():
                    self.check_finite(name.replace("_", " "), per_agent.cpu().numpy())
        return stats

    def explore(self, obs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The policy's exploring actions at these observations, as it collects them now."""
        return self.learner.act(obs, self.noise_std())

    def clone_actors(self) -> list[float]:
        """Behaviour cloning of every actor on the demonstrations; the targets start from the clones."""
        learner = self.learner  # through its stacked actors: one batched pass for all agents
        losses = self.imitation.clone(learner.actors, learner.actor_outputs, learner.actor_stacks.parameters())
        self.learner.target_actors.load_state_dict(self.learner.actors.state_dict())
        return losses

    def check_finite(self, what: str, per_agent: Iterable[np.ndarray]) -> None:
        """Stop at the first NaN or inf, before it reaches the buffer, the weights or a checkpoint."""
        for agent, values in zip(self.agents, per_agent):
            finite = np.isfinite(values)
            if not finite.all():
                raise NonFiniteError(
                    f"{what} of {agent} is {values[~finite].flat[0]} at episode {self.counters.episodes}, "
                    f"update {self.counters.updates}; training stopped, the last checkpoint is left as it was"
                )

    # --- the loop -----------------------------------------------------------------------------

    def open_outputs(self) -> tuple[EventLog, MetricsCsv]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "checkpoints").mkdir(exist_ok=True)
        (self.run_dir / "gifs").mkdir(exist_ok=True)
        with atomic_path(self.run_dir / "config.json") as tmp:  # a kill mid-write must not cost the run its config
            self.config.save(tmp)
        return EventLog(self.run_dir), MetricsCsv(self.run_dir / "metrics.csv", self.agents, self.counters.episodes)

    def train(self) -> bool:
        """Train until `config.episodes`; returns False when stopped early by a signal (checkpoint written)."""
        cfg = self.config
        writer, metrics = self.open_outputs()
        bar = progressbar.ProgressBar(
            # progressbar2 swaps sys.stderr for the stream it saw when progressbar.utils loaded; its default
            # instead is the one of when bar.py loaded, which a test's capsys may since have closed
            fd=sys.stderr,
            max_value=cfg.episodes,
            initial_value=min(self.counters.episodes, cfg.episodes),
            min_poll_interval=0.5 if sys.stderr.isatty() else 30.0,  # a log file gets a line every 30 s
            variables={name: float("nan") for name in self.bar_returns(np.zeros((0, len(self.agents))))},
            widgets=[
                "episodes ", progressbar.SimpleProgress(), " ", progressbar.Bar(), " ",
                *[progressbar.Variable(name, format=f"{name} {{value:8.2f}} ")
                  for name in self.bar_returns(np.zeros((0, len(self.agents))))],
                progressbar.ETA(),
            ],
        )
        bar_returns: deque[np.ndarray] = deque(maxlen=100)
        stop = StopRequest()
        started = time.perf_counter() - self.wall_time
        plan = self.episode_plan()
        if plan is not None:
            print(plan, file=sys.stderr)
        try:
            with stop.installed():
                if self.counters.episodes == 0 and cfg.episodes > 0:  # a first point: every eval curve is a line
                    self.evaluate_into(writer, metrics)
                while self.counters.episodes < cfg.episodes:
                    before = self.counters.episodes
                    finished = self.collect_step()
                    stats = self.learn(diagnostics=len(finished) > 0)  # the stats logged with those episodes
                    if len(finished) == 0:
                        continue
                    self.counters.episodes += len(finished)
                    self.wall_time = time.perf_counter() - started
                    self.recent_returns.extend(finished)
                    self.log_episodes(writer, finished, stats)
                    bar_returns.extend(finished)
                    self.update_bar(bar, bar_returns)
                    after = self.counters.episodes
                    if after // cfg.eval_interval > before // cfg.eval_interval or after >= cfg.episodes:
                        self.evaluate_into(writer, metrics)
                    if after // cfg.save_interval > before // cfg.save_interval or after >= cfg.episodes:
                        self.save_gif(writer)
                        writer.flush()  # the events up to the checkpoint survive a kill -9 after it
                        self.save()
                    elif stop.requested:
                        writer.flush()
                        self.save()
                    if stop.requested:
                        break
            writer.close()
            if self.counters.updates == 0 and not stop.requested:
                print(f"warning: no update ran: {self.counters.env_steps} transitions were collected, fewer than the "
                      f"{max(cfg.learning_starts, cfg.batch_size)} the first update needs (--learning-starts, "
                      f"--batch-size); the policy is untrained", file=sys.stderr)
        finally:  # also on an error: progressbar2 restores the streams it wraps, files are closed
            if bar_returns:  # the last line shows the return at the end, not at the last timed redraw
                bar.variables.update(self.bar_returns(np.array(bar_returns)))
            bar.finish(dirty=stop.requested or self.counters.episodes < cfg.episodes)
            writer.close(raise_failure=False)  # after an error: that error, not a second one, is what is reported
            self.env.close()
        if not stop.requested and self.last_evaluation is not None:
            self.print_final_evaluation()
        return not stop.requested

    def episode_plan(self) -> str | None:
        """One line where the run will not train exactly `episodes`: its envs step, and end episodes, together."""
        cfg, k = self.config, self.env.num_envs
        remaining = cfg.episodes - self.counters.episodes
        if remaining <= 0:
            return None
        if cfg.env_kwargs.get("terminate_on_success"):
            return (f"episodes: {cfg.episodes} to {cfg.episodes + k - 1} will run: the {k} envs (--num-envs) step "
                    f"together, and the run ends at the first step by which {cfg.episodes} episodes have ended")
        total = self.counters.episodes + episode_rounds(remaining, k) * k
        if total == cfg.episodes:
            return None
        return (f"episodes: {total} will run: --episodes {cfg.episodes} in whole rounds of the {k} envs "
                f"(--num-envs), whose {cfg.max_cycles}-step episodes end together")

    def print_final_evaluation(self) -> None:
        result, cfg = self.last_evaluation, self.config
        seed = cfg.seed + EVAL_SEED_OFFSET
        print(f"final evaluation after {self.counters.episodes} episodes ({self.counters.env_steps} env steps): "
              f"{len(result.returns)} greedy episodes, evaluate seed {seed} "
              f"(main.py evaluate {self.run_dir} --episodes {len(result.returns)} --seed {seed} --json)")
        print("\n".join(result.lines()))

    def bar_returns(self, returns: np.ndarray) -> dict[str, float]:
        """What the bar shows of recent returns [episodes, n_agents]: each team's on competitive scenarios,
        else the sum over agents."""
        sums = team_returns(returns, self.agents, self.teams) if self.teams else {"return": returns.sum(axis=1)}
        return {name: float(s.mean()) if len(s) else float("nan") for name, s in sums.items()}

    # --- outputs ------------------------------------------------------------------------------

    def update_bar(self, bar: progressbar.ProgressBar, recent_returns: deque[np.ndarray]) -> None:
        # A changed variable forces a redraw, so pass the mean return only as often as the bar redraws.
        episodes = min(self.counters.episodes, self.config.episodes)
        now = time.monotonic()
        if now - self._bar_redrawn >= bar.min_poll_interval:
            self._bar_redrawn = now
            bar.update(episodes, **self.bar_returns(np.array(recent_returns)))
        else:
            bar.update(episodes)

    def log_returns(self, writer: EventLog, section: str, returns: np.ndarray) -> None:
        """<section>/return/<agent>, .../sum and, on competitive scenarios, .../team_<team>: means over episodes."""
        step = self.counters.env_steps
        for i, agent in enumerate(self.agents):
            writer.add_scalar(f"{section}/return/{agent}", returns[:, i].mean(), step)
        writer.add_scalar(f"{section}/return/sum", returns.sum(axis=1).mean(), step)
        for team, sums in team_returns(returns, self.agents, self.teams).items():
            writer.add_scalar(f"{section}/return/team_{team}", sums.mean(), step)

    def log_episodes(self, writer: EventLog, finished: np.ndarray, stats: dict | None) -> None:
        # env steps on the x-axis, as SB3 and BenchMARL plot theirs; episodes and updates as scalars
        step = self.counters.env_steps
        self.log_returns(writer, "train", finished)
        writer.add_scalar("train/episodes", self.counters.episodes, step)
        writer.add_scalar("train/updates", self.counters.updates, step)
        if self.config.continuous_actions:  # discrete actions explore by Gumbel-softmax sampling, without it
            writer.add_scalar("train/noise_std", self.noise_std(), step)
        if stats is not None:
            for name, values in stats.items():
                for agent, value in zip(self.agents, values.tolist()):
                    writer.add_scalar(f"losses/{agent}/{name}", value, step)

    def evaluate_into(self, writer: EventLog, metrics: MetricsCsv) -> None:
        cfg = self.config
        result = evaluate(self.policy, cfg.eval_episodes, cfg.seed + EVAL_SEED_OFFSET, cfg.env_backend)
        self.last_evaluation = result
        step = self.counters.episodes
        self.log_returns(writer, "eval", result.returns)
        writer.add_scalar("eval/episodes", step, self.counters.env_steps)
        if result.mean_sum > self.best_eval:
            self.best_eval = result.mean_sum
            save_policy(self.policy_file_state(eval_return_sum=result.mean_sum),
                        self.checkpoint_path().with_name(BEST_POLICY_NAME))
        train_returns = np.array(self.recent_returns)
        self.recent_returns = []
        metrics.append(
            {
                "episodes": step,
                "env_steps": self.counters.env_steps,
                "updates": self.counters.updates,
                "wall_time_s": round(self.wall_time, 2),
                "train_return_sum": float(train_returns.sum(axis=1).mean()) if len(train_returns) else "",
                "eval_return_sum": result.mean_sum,
                **{f"eval_return/{a}": v for a, v in result.mean_per_agent.items()},
            }
        )

    def save_gif(self, writer: EventLog) -> None:
        path = self.run_dir / "gifs" / f"episode_{self.counters.episodes:07d}.gif"
        record_gif(self.policy, path, seed=self.config.seed + EVAL_SEED_OFFSET)
        add_gif(writer, "eval/episode", path, self.counters.env_steps)

    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / CHECKPOINT_NAME

    def policy_file_state(self, **about) -> dict:
        return policy_state(self.config, self.agents, self.obs_dims, self.action_specs, self.learner.actors,
                            episodes=self.counters.episodes, env_steps=self.counters.env_steps, **about)

    def save(self) -> Path:
        """The resume checkpoint (everything, the replay buffer included) and, beside it, the policy file."""
        path = self.checkpoint_path()
        save_checkpoint(
            {
                "config": self.config.to_dict(),
                "device": self.device.type,
                "demos_sha256": self.imitation.demos_digest,
                "agents": list(self.agents),
                "obs_dims": self.obs_dims,
                "action_specs": spec_dicts(self.action_specs),
                "counters": vars(self.counters).copy(),
                "wall_time": self.wall_time,
                "best_eval_return_sum": self.best_eval,
                "learner": self.learner.state_dict(),
                **self.imitation.state_dict(),  # "discriminators", "expert_sampler"
                "buffer": self.buffer.state_dict(),
                "env": self.env.state_dict(),
                "episode_returns": torch.from_numpy(self.episode_returns.copy()),
                "recent_returns": torch.from_numpy(np.array(self.recent_returns).reshape(-1, len(self.agents))),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
            path,
        )
        save_policy(self.policy_file_state(), path.with_name(POLICY_NAME))
        print(f"checkpoint: {path}", file=sys.stderr)
        return path

    def restore(self, state: dict) -> None:
        self.learner.load_state_dict(state["learner"])
        self.imitation.load_state_dict(state)
        self.buffer.load_state_dict(state["buffer"])
        self.obs = self.env.load_state_dict(state["env"])
        self.counters = Counters(**state["counters"])
        self.wall_time = state["wall_time"]
        self.best_eval = state.get("best_eval_return_sum", -float("inf"))  # runs from before best_policy.pt
        self.episode_returns = state["episode_returns"].numpy().copy()
        self.recent_returns = list(state["recent_returns"].numpy())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])


def train(config: Config, run_dir: Path | None = None) -> tuple[Path, bool]:
    """Start a new run; returns (run folder, completed)."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    with run_folder.locked(run_dir):
        trainer = Trainer(config, run_dir)
        if config.bc_init:
            trainer.clone_actors()
        return run_dir, trainer.train()


def clone(config: Config, run_dir: Path | None = None) -> tuple[Path, list[float]]:
    """A behaviour-cloning run: actors fitted to `config.demos`, evaluated and saved like any run."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config, kind="bc")
    with run_folder.locked(run_dir):
        trainer = Trainer(config, run_dir)
        started = time.perf_counter()
        losses = trainer.clone_actors()
        trainer.wall_time = time.perf_counter() - started
        writer, metrics = trainer.open_outputs()
        try:
            for epoch, loss in enumerate(losses, start=1):  # no env steps in cloning: its x-axis is the epoch
                writer.add_scalar("losses/bc_loss_per_epoch", loss, epoch)
            trainer.evaluate_into(writer, metrics)
            trainer.save_gif(writer)
            writer.flush()
            trainer.save()
            writer.close()
        finally:
            writer.close(raise_failure=False)
        trainer.print_final_evaluation()
    return run_dir, losses


def resume(run_dir: Path, episodes: int | None = None) -> tuple[Path, bool]:
    """Continue a run from its last checkpoint (optionally to a new episode total).

    A run that already has its episodes is left untouched: (run_dir, True) without training.
    """
    run_dir = Path(run_dir)
    with run_folder.locked(run_dir):  # before reading: the checkpoint of a run in progress is about to change
        return _resume(run_dir, episodes)


def _resume(run_dir: Path, episodes: int | None) -> tuple[Path, bool]:
    path = run_dir / "checkpoints" / CHECKPOINT_NAME
    state = load_checkpoint(path)
    check_same_run(path, state, run_dir / "config.json")
    config = Config.from_saved(state["config"])
    if episodes is not None:
        config.episodes = episodes
    done = state["counters"]["episodes"]
    if done >= config.episodes:
        print(f"{run_dir}: nothing to train, its checkpoint has {done} episodes and the run asks for "
              f"{config.episodes}; give --episodes above {done} to train on", file=sys.stderr)
        return run_dir, True
    # Checkpoints before these keys were added resume unchecked. The replay buffer's and the
    # demonstrations' random generators live on the training device, so their states only load there.
    try:
        device = resolve_device(config.device).type
    except ValueError as error:
        raise CheckpointError(f"{path}: its config's --device {error}") from None
    if state.get("device", device) != device:
        hint = " (CUDA_VISIBLE_DEVICES= hides the GPU)" if state["device"] == "cpu" else ""
        raise CheckpointError(f"{path}: it was trained on {state['device']} and would resume on {device}; "
                              f"a run resumes only on the kind of device it was trained on{hint}")
    try:
        trainer = Trainer(config, run_dir)
    except DemonstrationsError as error:
        raise CheckpointError(f"{path}: its demonstrations do not load: {error}") from None
    if state.get("demos_sha256", trainer.imitation.demos_digest) != trainer.imitation.demos_digest:
        raise CheckpointError(f"{path}: its demonstrations {config.demos} have changed since the run was trained "
                              f"on them; put the original file back to resume it")
    try:
        trainer.restore(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:  # a checkpoint edited or pieced together
        raise CheckpointError(f"{path}: its training state does not load ({type(error).__name__}: {error})") from None
    return run_dir, trainer.train()
