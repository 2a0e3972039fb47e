#!/bin/sh
# The main job on a shipped spec: check it, compile it to a .keras file (printing
# Keras's summary), and draw it. Outputs go to out/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh tensorflow   # cnndsl with Keras and TensorFlow, and Graphviz: nothing more
SPEC=${1:-specs/googlenet.cnn}
NAME=$(basename "$SPEC" .cnn)
mkdir -p out
.venv/bin/cnndsl check "$SPEC"
.venv/bin/cnndsl compile "$SPEC" -o "out/$NAME.keras" --summary
.venv/bin/cnndsl draw "$SPEC" -o "out/$NAME.svg" --depth 1
.venv/bin/cnndsl draw "$SPEC" -o "out/$NAME-full.svg"
