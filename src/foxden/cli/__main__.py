"""`python -m foxden.cli`."""

import sys

from foxden.cli import main

sys.exit(main())
