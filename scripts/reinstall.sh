#!/bin/bash
# Developers: reinstall pyrunc from this tree into .venv quickly (no dependency resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --no-deps --no-build-isolation --force-reinstall . 2>&1 \
    | grep -iE "^error|error:" || true
