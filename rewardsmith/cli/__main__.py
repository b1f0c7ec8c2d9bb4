"""`python -m rewardsmith.cli ...`, the same as the `rewardsmith` command."""

import sys

from rewardsmith.cli.app import app

sys.exit(app())
