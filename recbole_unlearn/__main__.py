"""``python -m recbole_unlearn``: the same as ``run_recbole_unlearn.py``."""

import sys

from recbole_unlearn.cli import main

sys.exit(main())
