"""Run the gifsearch CLI with `python -m gifsearch`."""

import sys

from gifsearch.cli import main

sys.exit(main())
