"""The package's structure (docs/layout.md): no import circle, and the learner knows no scenario."""

import ast
from pathlib import Path

import pytest

from maddpg_gail.config import Config

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "maddpg_gail")


def imports(module_level_only: bool = False) -> dict[str, set[str]]:
    """Each project module's imports of project modules: at module level, or also inside functions."""
    graph = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            module = f"{package}.{path.stem}" if path.stem != "__init__" else package
            found = set()
            tree = ast.parse(path.read_text())
            for node in (tree.body if module_level_only else ast.walk(tree)):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                found |= {name for name in names if name.split(".")[0] in PACKAGES}
            graph[module] = found
    return {module: {name for name in found if name in graph and name != module} for module, found in graph.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of the graph, or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target):] + [module, target] if target in path else path + [module, target]
            if target not in state and (found := visit(target, path + [module])):
                return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [])):
            return found
    return None


def modules_graph(module_level_only: bool, package: str | None = None) -> dict[str, set[str]]:
    # a package's __init__ re-exports its modules: importing it is importing them, so it is left out
    return {m: {t for t in found if t not in PACKAGES and (package is None or t.startswith(package + "."))}
            for m, found in imports(module_level_only).items()
            if m not in PACKAGES and (package is None or m.startswith(package + "."))}


@pytest.mark.parametrize("package", ["envs", "maddpg_gail"])
def test_no_import_circle_not_even_through_a_function(package):
    # envs/vector.py once built the batched backend, which builds on envs/vector.py (by a function's import);
    # config -> demonstrations -> checkpoint -> config ran through Config.check_environment's import
    assert cycle(modules_graph(module_level_only=False, package=package)) is None


def test_the_cycle_finder_finds_a_circle_through_a_function():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_no_module_imports_back_into_a_circle_when_it_loads():
    assert cycle(modules_graph(module_level_only=True)) is None


SCENARIO_MODULES = ("envs.spread", "envs.experts")  # a scenario's layout and its scripted experts


def test_no_module_of_the_package_imports_a_scenario():
    # what maddpg_gail knows of a scenario comes from the registry, envs/features.py (the CLI's collect
    # command alone asks envs.experts for an expert by name)
    importing = {module: sorted(found & set(SCENARIO_MODULES)) for module, found in imports().items()
                 if module.startswith("maddpg_gail") and module != "maddpg_gail.cli"}
    assert {module: found for module, found in importing.items() if found} == {}
    assert "envs.spread" not in imports()["envs.symmetries"]


def test_config_differences_leave_out_the_episode_total_only():
    config = Config(episodes=1000, actor_lr=1e-3)
    assert config.differences(Config(episodes=2000, actor_lr=1e-3).to_dict()) == []
    assert config.differences(Config(episodes=2000, actor_lr=1e-2, seed=3).to_dict()) == ["actor_lr", "seed"]
    assert config.differences(Config(episodes=2000).to_dict(), ignore=()) == ["actor_lr", "episodes"]
    # a run of fewer episodes than the default envs steps as many envs as episodes: another experiment
    assert Config(episodes=10).differences(Config(episodes=20).to_dict()) == ["num_envs"]
