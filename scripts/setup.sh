#!/bin/sh
# Idempotent set-up on a fresh Debian/Ubuntu machine with python3:
# Graphviz (for `cnndsl draw`), a virtual environment in .venv, and cnndsl
# installed into it with its Keras and test extras.
set -eu
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
apt_install() {
    command -v apt-get >/dev/null 2>&1 || { echo "setup: please install: $*" >&2; exit 1; }
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v dot >/dev/null 2>&1 || apt_install graphviz
# The interactive diagram's browser tests run in Debian's Chromium (no browser is downloaded at run time).
command -v chromium >/dev/null 2>&1 || apt_install chromium
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { rm -rf .venv; apt_install python3-venv; python3 -m venv .venv; }
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
