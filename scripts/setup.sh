#!/bin/sh
# Idempotent set-up on a fresh Debian/Ubuntu machine with python3:
# Graphviz (for `cnndsl draw`), a virtual environment in .venv, and cnndsl installed into it
# (editable) with the extra given as the first argument: `tensorflow` (the default: Keras with
# TensorFlow, what the demo needs) or `test` (every backend and the test stack, and Chromium
# for the interactive diagram's browser tests).
set -eu
cd "$(dirname "$0")/.."
EXTRA=${1:-tensorflow}

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "setup: please install: $*" >&2; exit 1; }
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v dot >/dev/null 2>&1 || apt_install graphviz
# The interactive diagram's browser tests run in Debian's Chromium (no browser is downloaded at run time);
# only the tests need it.
if [ "$EXTRA" = test ]; then
    command -v chromium >/dev/null 2>&1 || apt_install chromium
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; python3 -m venv .venv; }
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$EXTRA]"
