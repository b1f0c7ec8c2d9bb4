"""The errors rewardsmith raises on purpose, in three kinds the command line treats differently (cli/app.py):

  UserError   what the user gave is wrong: a flag, a file, a run directory, a name. One line on stderr naming what
              was wrong and what is valid, exit 2, raised before anything is written where that can be known.
  Stopped     the run stopped cleanly before its end (the --max-cost cap, a Ray cluster that went away): one line
              saying how to continue (`--resume`), exit 3. What was saved stays valid.
  any other   a bug, or a failure nobody planned for: the full traceback, exit 1, and for a run a line saying where
              it is and that `--resume` continues it. Never turned into a "bad input" line.

UserError is also a ValueError, so library code and tests that catch ValueError for bad input keep working; the
command line catches UserError only, so a genuine ValueError from a bug keeps its traceback.

Errors from generated code (a reward that does not extract, load or train) are data, not exceptions that reach the
user: the stages record them on the candidate and the next prompt carries them (records.Status).
"""

from __future__ import annotations


class RewardsmithError(Exception):
    """Every error rewardsmith raises on purpose."""


class UserError(RewardsmithError, ValueError):
    """Bad input from the user; the message is the one line the command line shows (what is wrong, what is valid)."""


class Stopped(RewardsmithError):
    """The run stopped cleanly before its end; `evolve --resume RUN` continues it (exit code STOPPED)."""


BAD_INPUT = 2  # the exit code of a UserError (and of a usage error the argument parser finds)
STOPPED = 3  # the exit code of a Stopped
FAILED = 1  # a run that finished with no candidate evaluated, or a bug (its traceback)
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)
