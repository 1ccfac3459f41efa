"""maddpg-gail command line (the CLI is maddpg_gail/cli.py; `maddpg-gail` is the same command once installed).

    python main.py --help                  the six commands: train (the default), evaluate, collect, bc, compare, report
    python main.py [train] --episodes 30000
"""

import sys

from maddpg_gail.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
