"""Fixtures for the tests that compare the kit with real BVLC Caffe (marker ``caffe``; make test-caffe)."""

from __future__ import annotations

from types import ModuleType

import pytest

import harness  # tests/caffe is on sys.path: pytest prepends the folder of a conftest outside a package


@pytest.fixture(scope="session")
def caffe() -> ModuleType:
    """The harness module (forward, save_caffemodel, dump_caffemodel, solve, ...) once Caffe is built.

    Fails, never skips, without a build: a caffe-marked test that did not run must not look like a pass.
    """
    try:
        harness.caffe_python()
    except harness.CaffeNotBuilt as err:
        pytest.fail(str(err), pytrace=False)
    return harness
