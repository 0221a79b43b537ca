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


def add_words_option(parser) -> None:
    """``--args TEXT``: more of a command's options in one argument, split by parse_with_words. How make passes
    its ARGS= value (through the environment, as one word, never read by a shell)."""
    parser.add_argument("--args", default="", metavar="TEXT",
                        help="more of these options in one argument, split into words as a shell would split them "
                             "(shlex: quote a path that holds spaces), nothing run: how make passes its ARGS= value")


def parse_with_words(parser, argv=None):
    """``parser.parse_args(argv)``, then again with the words of its ``--args`` appended (add_words_option); an
    unclosed quote there is the parser's one error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        extra = split_words(args.args, "ARGS")
    except ValueError as e:
        parser.error(str(e))
    return parser.parse_args([*argv, *extra]) if extra else args


def fail(error: BaseException | str, status: int = 1) -> int:
    """Print ``error: MESSAGE`` to stderr and return ``status`` for ``main`` to return."""
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status


def interrupted(resume: str = "") -> int:
    """Say INTERRUPTED_LINE (with ``resume``, how the command picks up again, in brackets) and return 130."""
    print(f"\n{INTERRUPTED_LINE}" + (f" ({resume})" if resume else ""), file=sys.stderr, flush=True)
    return INTERRUPTED


def run(main: Callable[[], int | None]) -> int:
    """``main()``'s status; Ctrl-C (KeyboardInterrupt) is the line INTERRUPTED_LINE and status 130, no
    traceback. What a command's ``if __name__ == "__main__"`` calls."""
    try:
        return main() or 0
    except KeyboardInterrupt:
        return interrupted()
