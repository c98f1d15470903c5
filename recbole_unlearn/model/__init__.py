"""The package's recommenders. ``MODELS`` maps class names to classes; they shadow RecBole's of the same name."""

from recbole_unlearn.model.base import GraphRecommender
from recbole_unlearn.model.lightgcn import LightGCN

MODELS = {cls.__name__: cls for cls in (LightGCN,)}

__all__ = ["GraphRecommender", "LightGCN", "MODELS"]
