"""maddpg-gail command line; the CLI itself is maddpg_gail/cli.py, which the installed `maddpg-gail` command runs too.

    python main.py --help                  the six commands: train (the default), evaluate, collect, bc, compare, report
    python main.py [train] --episodes 30000
"""

import sys

from maddpg_gail.cli import USAGE_ERROR, main  # noqa: F401  (USAGE_ERROR: the exit code of a usage error)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
