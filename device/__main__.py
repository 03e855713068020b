"""`python -m device ...` is `ritbox ...` (for a checkout without the console script)."""
import sys

from device.cli import main

sys.exit(main())
