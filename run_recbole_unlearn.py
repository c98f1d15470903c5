"""Train, evaluate (and, with forget_* keys, unlearn and audit) a RecBole model: see ``--help`` and README.md."""

import sys

from recbole_unlearn.cli import main

if __name__ == "__main__":
    sys.exit(main())
