"""recbole-unlearn: a RecBole plug-in that makes trained graph recommenders forget.

Importing it never imports ``recbole.quick_start`` (and so never ray); see :mod:`recbole_unlearn.compat`.
"""

from recbole_unlearn.compat import restore_numpy_aliases

restore_numpy_aliases()

from recbole_unlearn.api import audit_model, unlearn
from recbole_unlearn.config import Config
from recbole_unlearn.errors import InputError
from recbole_unlearn.loading import load_data_and_model
from recbole_unlearn.registry import get_model, get_trainer

__version__ = "0.1.0"

__all__ = [
           "Config",
           "InputError",
           "__version__",
           "audit_model",
           "get_model",
           "get_trainer",
           "load_data_and_model",
           "unlearn",
]
