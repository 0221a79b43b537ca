"""torchfcn's own model classes (torchfcn 1.9.7, pinned in requirements-nodeps.txt), for the export tests.

torchfcn is installed without its dependencies (``pip install --no-deps -r requirements-nodeps.txt``, done by
``make setup``); benchmarks.torchfcn_import.torchfcn_classes, the kit's one importer of torchfcn, imports its model
modules unchanged without running the package ``__init__`` files, with a stand-in for the Chainer-based ``fcn``
package. Nothing of torchfcn is copied or patched.
"""

from __future__ import annotations

from benchmarks.torchfcn_import import torchfcn_classes


def torchfcn_models() -> dict[str, type]:
    """torchfcn's FCN32s, FCN16s, FCN8s and FCN8sAtOnce classes by name (ImportError when not installed)."""
    return torchfcn_classes()
