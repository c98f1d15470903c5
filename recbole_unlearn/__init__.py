"""recbole-unlearn: a RecBole plug-in that makes trained graph recommenders forget.

Importing it never imports ``recbole.quick_start`` (and so never ray); see :mod:`recbole_unlearn.compat`.
"""

from recbole_unlearn.compat import restore_numpy_aliases

restore_numpy_aliases()

from recbole_unlearn.config import Config  # noqa: E402
from recbole_unlearn.errors import InputError  # noqa: E402
from recbole_unlearn.registry import get_model, get_trainer  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Config", "InputError", "get_model", "get_trainer", "__version__"]
