#!/bin/bash
# Install what pyrunc needs on Debian 12 and pyrunc itself, into ./.venv (as root).
#   scripts/setup.sh             -> .venv/bin/pyrunc, built with Debian's /usr/bin/python3
#   PYTHON=/path/to/python3 scripts/setup.sh   to build the venv from another interpreter
# A second run with nothing changed installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "scripts/setup.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (containers need it)"
export DEBIAN_FRONTEND=noninteractive
pkgs="gcc libc6-dev python3 python3-dev python3-venv libseccomp-dev busybox-static runc crun iproute2 procps"
installed=" $( (dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null || true) | awk '$1 == "ii" {printf "%s ", $2}')"
missing=""
for p in $pkgs; do case "$installed" in *" $p "*) ;; *) missing="$missing $p" ;; esac; done
if [ -n "$missing" ]; then
    echo "scripts/setup.sh: installing Debian packages:$missing"
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends $missing >/dev/null || die "apt-get install$missing failed"
fi
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v "$PY" 2>/dev/null) || die "no interpreter $PYTHON"
want=$("$PY" -c 'import os, sys; print(os.path.realpath(sys.executable))') || die "$PY does not run"
if [ -x .venv/bin/python ]; then
    have=$(.venv/bin/python -c 'import os, sys; print(os.path.realpath(sys._base_executable))' 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
        echo "scripts/setup.sh: .venv was made by ${have:-a broken interpreter}, not $want: making it anew"
        rm -rf .venv
    fi
fi
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv || die "$PY -m venv .venv failed (Debian: apt-get install python3-venv)"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip \
        "setuptools>=77" wheel "cffi>=1.15" "fastjsonschema>=2.16" || die "pip could not install the build tools"
fi
# Reinstall only when the sources changed since the last install.
stamp=$(cat pyproject.toml setup.py bin/pyrunc $(find runtime native spec -type f \( -name '*.py' -o -name '*.c' \
    -o -name '*.h' -o -name '*.json' \) ! -name '_validator.py' ! -path '*/schema/*' ! -name '_native.c' | sort) \
    | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.pyrunc-stamp 2>/dev/null)" != "$stamp" ] || [ ! -x .venv/bin/pyrunc ]; then
    rm -f .venv/.pyrunc-stamp
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation ".[test]" >"$log" 2>&1; then
        grep -E "^error: missing|pyrunc needs" "$log" | head -1 >&2 || tail -20 "$log" >&2
        rm -f "$log"
        die "pip install failed"
    fi
    rm -f "$log"
fi
version=$(.venv/bin/pyrunc --version 2>&1 | head -1) || die "the installed .venv/bin/pyrunc does not run: $version"
case "$version" in "pyrunc version "*) ;; *) die "the installed .venv/bin/pyrunc does not run: $version" ;; esac
echo "$stamp" > .venv/.pyrunc-stamp
echo "pyrunc installed: $(pwd)/.venv/bin/pyrunc ($version, $(.venv/bin/python -c 'import sys; print(sys.executable, sys.version.split()[0])'))"
