"""Measurement scripts, run from the repository root: ``python benchmarks/<name>.py``.

A regular package (not a namespace one) so that ``import benchmarks`` finds this folder before
the unrelated top-level ``benchmarks`` package that pysbd installs.
"""
