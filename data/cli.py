"""The kit's one way for a command to fail: ``error: MESSAGE`` on stderr, no traceback, a non-zero status.

Every command's ``main`` ends in ``return fail(e)`` for the errors it expects (each already says what was
expected, what was found and what to do); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys


def fail(error: BaseException | str, status: int = 1) -> int:
    """Print ``error: MESSAGE`` to stderr and return ``status`` for ``main`` to return."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status
