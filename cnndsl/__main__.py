"""``python -m cnndsl``: the command line.

Importing the package already installed the start-up SIGINT guard (cnndsl/api.py); main() replaces it
with its own handling."""
import sys

from .cli import main

sys.exit(main())
