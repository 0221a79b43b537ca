"""The package graph: what importing a package pulls in."""

from __future__ import annotations

import subprocess
import sys

import data


def test_importing_weights_pulls_in_neither_scipy_nor_pil() -> None:
    """weights/ uses data's file and download helpers only; data's readers (scipy) and pictures (PIL) load on
    first use."""
    code = "import sys, weights; print(sorted(m for m in ('scipy', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_data_names_are_the_readers_in_order() -> None:
    assert data.NAMES == tuple(data.READERS)
