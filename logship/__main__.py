"""`python -m logship` is `logship`."""

import sys

from logship.cli import main

sys.exit(main())
