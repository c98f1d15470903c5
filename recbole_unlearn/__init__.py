"""recbole-unlearn: a RecBole plug-in that makes trained graph recommenders forget.

Importing it never imports ``recbole.quick_start`` (and so never ray); see :mod:`recbole_unlearn.compat`.

``recbole_unlearn.audit`` is the function :func:`recbole_unlearn.api.audit`; the audit's modules are imported by their
full names (``from recbole_unlearn.audit.report import ...``).
"""

from recbole_unlearn.compat import restore_numpy_aliases

restore_numpy_aliases()

from recbole_unlearn.api import audit, unlearn  # noqa: E402
from recbole_unlearn.config import Config  # noqa: E402
from recbole_unlearn.errors import InputError  # noqa: E402
from recbole_unlearn.loading import load_data_and_model  # noqa: E402
from recbole_unlearn.registry import get_model, get_trainer  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Config", "InputError", "audit", "get_model", "get_trainer", "load_data_and_model", "unlearn",
           "__version__"]
