"""RecBole 1.2.1 on today's Python stack: the few shims it needs, and why.

Stock RecBole 1.2.1 breaks in five independent ways on a fresh install (see ``docs/compatibility.md``).
Each is handled once, here or by a version bound in ``pyproject.toml``; RecBole's installed files are never edited.

====  ===========================================  ============================================================
 #    breakage                                     how it is handled
====  ===========================================  ============================================================
 1    numpy 2 removed ``np.float_`` & co., which   bound ``numpy<2`` (torch-geometric and pandas 2 are fine with
      ``Config.compatibility_settings`` reads      it); :func:`restore_numpy_aliases` also only sets the aliases
                                                   that numpy lacks, so ``Config`` itself never raises.
 2    ``recbole.quick_start`` imports ray, which   never imported: :mod:`recbole_unlearn.quick_start` is the
      needs ``pkg_resources``                      package's own run loop (a test checks ray stays unimported).
 3    torch >= 2.6 loads with ``weights_only``;    :mod:`recbole_unlearn.checkpoint` saves tensors and plain
      RecBole pickles its whole ``Config``         metadata and loads with ``weights_only=True``; the trainers
                                                   get it through :class:`~recbole_unlearn.trainer.SafeCheckpointMixin`.
 4    scipy >= 1.13 removed ``dok_matrix._update``  bound ``scipy<1.13`` for RecBole's own graph models; this
      (LightGCN, NGCF, NCL, GCMC, SpectralCF ...)  package's models build their adjacency as COO arrays directly.
 5    pandas 3 copy-on-write breaks in-place       bound ``pandas<3``.
      ``fillna`` and ``agg(len)`` in ``Dataset``
====  ===========================================  ============================================================

Two more RecBole habits are avoided rather than patched: ``create_dataset`` and ``data_preparation`` unpickle cached
datasets and dataloaders from ``checkpoint_dir`` (stale after the data changes, and unpickling a file is unsafe), so
:mod:`recbole_unlearn.data.preparation` always builds them from the data files.
"""

import numpy as np

# The aliases RecBole's Config sets on numpy, and the type each stands for.
_NUMPY_ALIASES = {
    "bool": np.bool_,
    "int": np.int_,
    "float": np.float64,
    "complex": np.complex128,
    "object": np.object_,
    "str": np.str_,
    "long": np.int_,
    "unicode": np.str_,
    "float_": np.float64,
    "complex_": np.complex128,
    "unicode_": np.str_,
}


def restore_numpy_aliases():
    """Give numpy the old scalar aliases RecBole 1.2.1 still uses, without touching those numpy already has."""
    for name, scalar_type in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, scalar_type)
