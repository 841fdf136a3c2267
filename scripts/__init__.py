"""The repository's scripts. Most are shell; `scripts.benchmarks` is a Python package, run from the
repository root with `python -m scripts.benchmarks` (see its docstring)."""
