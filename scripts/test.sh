#!/bin/bash
# Set up, then run every test: the pytest suite (real containers) and the
# spec-conformance suite.  Run as root on Debian 12:  sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The unit tests import runtime/ from this tree: build its native parts in place too.
.venv/bin/python native/build.py >/dev/null
export PYRUNC_TEST_RUNTIME="$(pwd)/.venv/bin/pyrunc"
export PYRUNC_TEST_REQUIRE_RUNTIME=1
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider tests || status=$?
.venv/bin/python -m conformance --runtime "$PYRUNC_TEST_RUNTIME" || status=$?
exit $status
