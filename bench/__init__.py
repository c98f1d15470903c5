"""The benchmarks of recbole-unlearn, each run from the repository root as ``python -m bench.<name>`` (``--help``
lists its options); what they share is in :mod:`bench.common`, their results in ``bench/results/``."""
