#!/bin/sh
# Set up (scripts/setup.sh test: every backend, pytest, hypothesis) and run the whole test suite.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh test         # every Keras backend and the test stack
# Two workers, one file each at a time (a file's shared fixtures, such as the backends' runs, are
# built once), the slowest files first (tests/conftest.py: SLOWEST_FIRST). The suite's budget is 25 minutes
# on two cores; the quick tier (pytest -m "not slow") is the development loop.
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder "$@"
