"""Mutation testing of the learner, the replay buffer, the discriminators and the demonstration loader (mutmut).

    python bench/mutation.py            # mutate, run the tests on every mutant, print the score per module
    python bench/mutation.py --report   # only print the score of the last run (from mutants/)
    mutmut show NAME                    # the diff of one mutant; `mutmut results` lists the survivors

Which files are mutated and which tests judge them: setup.cfg's [mutmut] section. Not in CI: it runs each
mutant's tests in a fresh process, ~1,500 mutants, ~15 minutes on one core. Niced, on one core: the machine
is shared. Install with `pip install -r requirements-dev.txt`. Survivors and why the rest stay: docs/testing.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mutmut's words for what happened to a mutant; "no tests" = no selected test runs the mutated function
KILLED = ("killed", "timeout")
# mutmut names a mutant <module>.x_<function>__mutmut_<n> or <module>.xǁ<class>ǁ<method>__mutmut_<n>
MUTANT_NAME = re.compile(r"^(.*?)\.x[_ǁ]")


def run_mutmut() -> None:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", OMP_NUM_THREADS="1")
    subprocess.run(["nice", "-n", "15", "mutmut", "run", "--max-children", "1"], cwd=ROOT, env=env, check=True)


def statuses() -> dict[str, collections.Counter]:
    """Per module, how many mutants ended in each status."""
    listing = subprocess.run(["mutmut", "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            counts[MUTANT_NAME.match(name).group(1)][status] += 1
    return counts


def report(counts: dict[str, collections.Counter]) -> str:
    rows = ["| module | mutants | killed | survived | no tests | other | score |", "|---|---|---|---|---|---|---|"]
    total = collections.Counter()
    for module, c in sorted(counts.items()) + [("all", None)]:
        c = total if c is None else c
        if module != "all":
            total.update(c)
        n, killed = sum(c.values()), sum(c[s] for s in KILLED)
        other = n - killed - c["survived"] - c["no tests"]
        rows.append(f"| {module} | {n} | {killed} | {c['survived']} | {c['no tests']} | {other} | "
                    f"{100 * killed / max(n, 1):.1f}% |")
    return "\n".join(rows) + "\n\nscore = (killed + timeout) / all mutants, \"no tests\" counted as survivors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print the last run's score without running")
    if not parser.parse_args().report:
        run_mutmut()
    print(report(statuses()))


if __name__ == "__main__":
    sys.exit(main())
