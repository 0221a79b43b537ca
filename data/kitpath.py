"""The kit's packages on the environment's path: what ``make setup`` runs last (this module, with -m).

The editable install finds the kit's packages through an import hook that Python consults after its path search,
and the path search takes a plain folder named ``weights/`` or ``data/`` in the working folder for a namespace
package first: the kit would be shadowed by a folder of checkpoints. A folder ``<venv>/fcn-kit-packages``
holding a link to each kit package (a folder link: modules added later are seen at once, as with the editable
install), named in ``fcn_kit_packages.pth``, puts the regular packages on the path, where they win over a
namespace folder. Only the kit's packages go there, not the checkout: its tests/ and results/ are no packages to
import. A real package of a kit name in the working folder still comes first: data.shadowing says so.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from .files import write_text
from .shadowing import KIT_PACKAGES, KIT_ROOT

FOLDER = "fcn-kit-packages"
PTH = "fcn_kit_packages.pth"


def install_path(prefix: str | None = None) -> Path:
    """Make ``<prefix>/fcn-kit-packages`` (links to the kit's packages) and name it in site-packages'
    ``fcn_kit_packages.pth``; run again, it replaces both. Returns the .pth file."""
    folder = Path(prefix or sys.prefix) / FOLDER
    folder.mkdir(exist_ok=True)
    for name in KIT_PACKAGES:
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(KIT_ROOT / name, target_is_directory=True)
    return write_text(Path(sysconfig.get_paths()["purelib"]) / PTH, f"{folder}\n")


def main() -> int:
    print(f"the kit's packages are on this environment's path: {install_path()}")
    return 0


if __name__ == "__main__":
    from .cli import run

    raise SystemExit(run(main))
