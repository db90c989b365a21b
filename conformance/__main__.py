"""python3 -m conformance: run the spec-conformance suite (see run.py)."""
import sys

from .run import main

sys.exit(main())
