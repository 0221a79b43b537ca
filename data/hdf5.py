"""Opening an HDF5 file from elsewhere (a weights .h5, a solverstate, NYU's labeled .mat) so that it reads only
its own bytes: ``open_hdf5(path)`` opens it read-only and refuses, naming the object, anything that would make
HDF5 read another file when a dataset is read: an external link (another file's object), external storage (a
dataset whose raw bytes are any file on disk), a virtual dataset (mapped from other files), a soft link, or any
object that is not a group or a dataset (a committed datatype). The files the kit reads hold none of these.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py


class UnsafeHDF5Error(ValueError):
    """An HDF5 file holding an object that reads from outside the file (or is not a group or dataset)."""


def _problem(obj: h5py.HLObject | None, link: h5py.HardLink | h5py.SoftLink | h5py.ExternalLink) -> str | None:
    if isinstance(link, h5py.ExternalLink):
        return f"an external link to {link.path!r} in the file {link.filename!r}"
    if isinstance(link, h5py.SoftLink):
        return f"a soft link to {link.path!r}"
    if not isinstance(link, h5py.HardLink):
        return f"a link of another kind ({type(link).__name__})"
    if isinstance(obj, h5py.Dataset):
        if obj.is_virtual:
            sources = sorted({s.file_name for s in obj.virtual_sources()})
            return f"a virtual dataset mapped from {', '.join(map(repr, sources))}"
        if obj.external:
            return f"a dataset stored outside the file, in {', '.join(repr(name) for name, *_ in obj.external)}"
        return None
    if isinstance(obj, h5py.Group):
        return None
    return f"a {type(obj).__name__}, not a group or dataset"


def refuse_outside_storage(f: h5py.File, path: str | os.PathLike, what: str = "file") -> None:
    """Raise UnsafeHDF5Error naming the first object of ``f`` that is not a group or dataset stored in ``f``
    itself, reached through a hard link (nothing is read from any other file while checking)."""
    found: list[str] = []

    def visit(name: str, link) -> bool | None:
        obj = f.get(name) if isinstance(link, h5py.HardLink) else None
        problem = _problem(obj, link)
        if problem is not None:
            found.append(f"/{name} is {problem}")
            return True  # stop the visit
        return None

    f.visititems_links(visit)
    if found:
        raise UnsafeHDF5Error(f"{Path(path)} was refused: {found[0]}. A {what} holds its arrays in itself; reading "
                              "this would read another file's bytes. Nothing was loaded; use a file written by the "
                              "kit or by Caffe")


def open_hdf5(path: str | os.PathLike, what: str = "file") -> h5py.File:
    """``h5py.File(path, "r")``, then refuse_outside_storage: the file is returned only when every object in it
    is a group or dataset held in the file itself. HDF5's own OSError (a cut or damaged file) is the caller's
    to word."""
    f = h5py.File(path, "r")
    try:
        refuse_outside_storage(f, path, what)
    except BaseException:
        f.close()
        raise
    return f
