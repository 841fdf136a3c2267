"""A stand-in for Coral's Edge TPU as its documentation drives it (see interpreter.py)."""
