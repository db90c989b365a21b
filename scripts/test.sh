#!/bin/bash
# Set up, then run every test: the pytest suite (real containers) and the
# spec-conformance suite.  Run as root on Debian 12:  sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PYRUNC_TEST_RUNTIME="$(pwd)/.venv/bin/pyrunc"
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider tests || status=$?
.venv/bin/python -m conformance --runtime "$PYRUNC_TEST_RUNTIME" || status=$?
exit $status
