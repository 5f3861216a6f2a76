#!/bin/sh
# Prepare a fresh Debian/Ubuntu machine for bench/run.py. Idempotent: each step runs only when
# what it provides is missing.
#   sh bench/setup.sh
set -eu
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# SPIN (Debian package "spin") and a C compiler for its verifiers
missing=""
command -v spin >/dev/null 2>&1 || missing="$missing spin"
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    $SUDO apt-get update
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
else
    echo "setup: spin and gcc present ($(spin -V))"
fi

# /usr/bin/time is not needed: run.py reads each child's peak memory with wait4().

# nmrcheck itself, from this checkout
if ! python3 -c "import nmrcheck" >/dev/null 2>&1; then
    echo "setup: installing nmrcheck from this checkout"
    python3 -m pip install -q -e .
else
    echo "setup: nmrcheck importable ($(python3 -m nmrcheck --version))"
fi

# the generated family (bench/models, bench/promela)
python3 bench/family.py
echo "setup: done; run: python3 bench/run.py --quick   (or without --quick for N = 1..6)"
