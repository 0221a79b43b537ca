"""Fixtures for the tests that compare the kit with real BVLC Caffe (marker ``caffe``; make test-caffe)."""

from __future__ import annotations

from types import ModuleType

import pytest

import harness  # tests/caffe is on sys.path: pytest prepends the folder of a conftest outside a package


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("caffe", "parity against real Caffe on released weights")
    group.addoption("--weights", default=None, help="a released FCN .caffemodel to compare on")
    group.addoption("--net", default=None, help="the reference net name of --weights (e.g. voc-fcn8s)")
    group.addoption("--image", default=None, help="an image to run --weights on")


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
