"""Run the exercises as `python -m exercises sgd|attention`."""

import sys

from exercises.cli import main

sys.exit(main())
