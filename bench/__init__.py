"""Benchmark harness of the model API: ``python -m bench`` (``make bench``).

Measures the API against three baselines taken in the same run (the HTTP floor, the in-process
XGBoost limit and MLServer as the peer), prints every figure as a ratio with pass/fail per target,
and writes ``bench/results/latest.json`` and ``latest.md``. See ``bench/README.md``.
"""
