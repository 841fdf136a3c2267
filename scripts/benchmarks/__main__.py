"""`python -m scripts.benchmarks`: write docs/BENCHMARKS.md (page.py)."""
import sys

from .page import main

sys.exit(main())
