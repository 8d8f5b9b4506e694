"""Benchmarks of pytest-wsservice. Not part of the test suite: run ``python -m bench``."""
