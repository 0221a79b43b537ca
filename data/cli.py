"""The kit's one way for a command to fail: ``error: MESSAGE`` on stderr, no traceback, a non-zero status.

Every command's ``main`` ends in ``return fail(e)`` for the errors it expects (each already says what was
expected, what was found and what to do); anything else is a bug and keeps its traceback. Every command runs its
``main`` through ``run``, so that Ctrl-C anywhere is one line and status 130 (128 + SIGINT, what a shell reports
for an interrupted program): what was already written is complete (data.files writes atomically).
"""

from __future__ import annotations

import shlex
import signal
import sys
from collections.abc import Callable

INTERRUPTED = 128 + signal.SIGINT
INTERRUPTED_LINE = "interrupted; what is in place stays"


def split_words(text: str, what: str) -> list[str]:
    """``text`` split into words as a POSIX shell splits them (quotes and backslashes honoured) and nothing else:
    no variable, command or wildcard is expanded or run. How the kit reads a list passed as one value (make's
    SOURCE= and ARGS=, through the environment). Raises ValueError naming ``what`` for an unclosed quote."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise ValueError(f"{what} {text!r}: {e} (a quote opened and not closed); the value is split into words as a "
                         "shell would split it: quote a word that holds spaces, for example "
                         f"{what}=\"'my file.tar'\"") from None


def fail(error: BaseException | str, status: int = 1) -> int:
    """Print ``error: MESSAGE`` to stderr and return ``status`` for ``main`` to return."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status


def run(main: Callable[[], int | None]) -> int:
    """``main()``'s status; Ctrl-C (KeyboardInterrupt) is the line INTERRUPTED_LINE and status 130, no
    traceback. What a command's ``if __name__ == "__main__"`` calls."""
    try:
        return main() or 0
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED_LINE}", file=sys.stderr, flush=True)
        return INTERRUPTED
