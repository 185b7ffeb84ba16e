"""`python -m localplatform.demo up|down|status|etl`: what `make demo` and `make demo-down` run."""

import sys

from localplatform.demo.cli import main

sys.exit(main())
