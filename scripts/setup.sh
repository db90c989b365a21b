#!/bin/bash
# Install what pyrunc needs on Debian 12 and pyrunc itself, into ./.venv.
#   sudo scripts/setup.sh           -> .venv/bin/pyrunc
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "scripts/setup.sh: run as root (containers need it)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
pkgs="gcc libc6-dev python3-dev python3-venv libseccomp-dev busybox-static runc crun iproute2 procps"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q ".[test]"
echo "pyrunc installed: $(pwd)/.venv/bin/pyrunc ($(.venv/bin/pyrunc --version | head -1))"
