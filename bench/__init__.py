"""pyrunc vs runc and crun: ``python3 -m bench`` (see bench/run.py)."""
