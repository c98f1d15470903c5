"""The package's recommenders. ``MODELS`` maps class names to classes; they shadow RecBole's of the same name."""

from recbole_unlearn.model.base import GraphRecommender
from recbole_unlearn.model.freedom import FREEDOM
from recbole_unlearn.model.lattice import LATTICE
from recbole_unlearn.model.lightgcn import LightGCN
from recbole_unlearn.model.mmlightgcn import MMLightGCN
from recbole_unlearn.model.vbpr import VBPR

MODELS = {cls.__name__: cls for cls in (LightGCN, VBPR, MMLightGCN, FREEDOM, LATTICE)}

__all__ = ["FREEDOM", "LATTICE", "MODELS", "VBPR", "GraphRecommender", "LightGCN", "MMLightGCN"]
