"""Fixtures for the tests that run Gupta's HHA code under GNU Octave (marker ``octave``; make test-octave)."""

from __future__ import annotations

from pathlib import Path

import pytest

import gupta  # tests/octave is on sys.path: pytest prepends the folder of a conftest outside a package


@pytest.fixture(scope="session")
def gupta_folder(request) -> Path:
    """The folder of Gupta's clones (--gupta, make test-octave GUPTA=...). Fails, never skips, without it or
    without Octave: an octave-marked test that did not run must not look like a pass."""
    folder = request.config.getoption("--gupta")
    message = gupta.problem(folder)
    if message:
        pytest.fail(message, pytrace=False)
    return Path(folder)


def pytest_terminal_summary(terminalreporter):
    if not gupta.REPORT:
        return
    terminalreporter.section("data.hha and Gupta's saveHHA under GNU Octave")
    rows = [("case", "compared with", "agreement per channel (disparity / height / angle)", "seconds")] + gupta.REPORT
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
