"""Gupta's HHA code run unmodified under GNU Octave: the reference data.hha is held to (make test-octave).

A user clones Gupta's three repositories into one folder and names it: ``make test-octave GUPTA=folder``. The
kit never copies or changes that code; tests/octave/hha_driver.m (the kit's) only calls its ``saveHHA`` as
rcnn-depth's run_all.m does. ``python tests/octave/gupta.py [FOLDER]`` checks the set-up and prints the one
message saying what is missing (exit status 2), or what was found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPOS = {  # folder name under GUPTA -> (where to clone it from, the files of it that saveHHA runs)
    "rcnn-depth": ("https://github.com/s-gupta/rcnn-depth",
                   ("rcnn/saveHHA.m", "mcg/depth_features/processDepthImage.m")),
    "rgbdutils": ("https://github.com/s-gupta/rgbdutils",
                  ("getPointCloudFromZ.m", "computeNormalsSquareSupport.m", "getYDir.m", "getRMatrix.m",
                   "rotatePC.m")),
    "nyu-hooks": ("https://github.com/s-gupta/nyu-hooks", ("getCameraParam.m", "cropCamera.m")),
}
OCTAVE = "octave-cli"
INSTALL = "apt-get install octave octave-image (Debian, Ubuntu)"
# Octave 7 prints this on every exit in some containers; the run itself succeeded (exit status 0).
_EXIT_NOISE = "error: ignoring const execution_exception& while preparing to exit"


REPORT: list[tuple[str, str, str, str]] = []  # make test-octave's rows (case, compared with, agreement, seconds)


class OctaveFailed(RuntimeError):
    pass


def problem(gupta: str | os.PathLike | None, then: str = "make test-octave GUPTA=/path/to/that/folder") -> str | None:
    """None when Octave with its image package and Gupta's files are there; else the one message saying what
    was expected, what was found and what to do (``then``: the command to run once it is done)."""
    found, missing = [], []
    if shutil.which(OCTAVE) is None:
        found.append(f"no {OCTAVE} on PATH")
    elif not _has_image_package():
        found.append("Octave without its image package (ordfilt2)")
    if not gupta:
        found.append("no GUPTA folder given")
    elif not Path(gupta).is_dir():
        found.append(f"no folder {gupta}")
    else:
        for name, (_, files) in REPOS.items():
            missing += [f"{name}/{f}" for f in files if not (Path(gupta) / name / f).is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            found.append(f"{gupta} lacks {', '.join(missing[:3])}{more}")
    if not found:
        return None
    clones = "; ".join(f"git clone {url} GUPTA/{name}" for name, (url, _) in REPOS.items())
    return (f"running Gupta's HHA code needs GNU Octave with its image package and a folder GUPTA holding clones of "
            f"his three repositories; found: {'; '.join(found)}. Install Octave: {INSTALL}. Clone: {clones}. "
            f"Then: {then}")


def _has_image_package() -> bool:
    run = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", "pkg load image; disp(exist('ordfilt2'))"],
                         capture_output=True, text=True, timeout=120)
    return run.returncode == 0 and run.stdout.strip() in ("2", "3")


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"  # an Octave single-quoted string


def run_save_hha(gupta: str | os.PathLike, jobs: list[tuple[Path, Path, Path]],
                 timeout: int = 600) -> list[tuple[float, float]]:
    """Gupta's saveHHA on each (depth PNG, raw depth PNG, output PNG), in one Octave process on one BLAS
    thread; returns the seconds each call took and the CPU seconds it used."""
    with tempfile.TemporaryDirectory(prefix="fcn-octave-") as tmp:
        listing = Path(tmp) / "jobs.txt"
        listing.write_text("".join(f"{d}\t{r}\t{o}\n" for d, r, o in jobs))
        command = f"addpath({_quoted(HERE)}); hha_driver({_quoted(Path(gupta).resolve())}, {_quoted(listing)})"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        run = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", command], capture_output=True, text=True,
                             env=env, timeout=timeout)
    errors = "\n".join(line for line in run.stderr.splitlines() if line.strip() != _EXIT_NOISE)
    if run.returncode != 0 or len(run.stdout.splitlines()) != len(jobs):
        raise OctaveFailed(f"Octave's saveHHA failed (exit status {run.returncode}): {errors or run.stdout}")
    return [(float(line.split("\t")[1]), float(line.split("\t")[2])) for line in run.stdout.splitlines()]


def save_hha_of(gupta: str | os.PathLike, cases: dict[str, tuple[np.ndarray, np.ndarray]],
                folder: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Octave's HHA of each case ``name: (depth in mm, missing mask)``: the depth and raw depth PNGs (raw =
    depth with the missing pixels 0, as NYU's rawDepths) are written into ``folder``, then read by Octave."""
    jobs = []
    for name, (depth, missing) in cases.items():
        depth_png, raw_png = folder / f"{name}-depth.png", folder / f"{name}-rawdepth.png"
        Image.fromarray(depth.astype(np.uint16)).save(depth_png)
        Image.fromarray(np.where(missing, 0, depth).astype(np.uint16)).save(raw_png)
        jobs.append((depth_png, raw_png, folder / f"{name}-hha.png"))
    seconds = [wall for wall, _ in run_save_hha(gupta, jobs)]
    outputs = {name: np.asarray(Image.open(job[2])) for name, job in zip(cases, jobs, strict=True)}
    return outputs, dict(zip(cases, seconds, strict=True))


def octave_window_sums(planes: np.ndarray, radius: int) -> np.ndarray:
    """Octave's ``filter2(ones(2r+1), f)`` of each plane of a C x H x W float64 array, as computeNormalsSquareSupport
    sums its windows (the order of its additions decides the last bits)."""
    with tempfile.TemporaryDirectory(prefix="fcn-octave-") as tmp:
        src, dst = Path(tmp) / "in.f64", Path(tmp) / "out.f64"
        np.ascontiguousarray(planes.transpose(0, 2, 1), dtype="<f8").tofile(src)  # MATLAB's column-major order
        c, h, w = planes.shape
        command = (f"fid = fopen({_quoted(src)}); f = reshape(fread(fid, Inf, 'double'), {h}, {w}, {c}); fclose(fid);"
                   f" s = zeros(size(f)); for i = 1:{c}, s(:, :, i) = filter2(ones({2 * radius + 1}), f(:, :, i)); end;"
                   f" fid = fopen({_quoted(dst)}, 'w'); fwrite(fid, s, 'double'); fclose(fid);")
        run = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", command], capture_output=True, text=True,
                             timeout=120)
        if run.returncode != 0 or not dst.is_file():
            raise OctaveFailed(f"Octave's filter2 failed (exit status {run.returncode}): {run.stderr}")
        return np.fromfile(dst, dtype="<f8").reshape(c, w, h).transpose(0, 2, 1)


def versions(gupta: str | os.PathLike) -> dict[str, str]:
    """Octave's version and the commit of each of Gupta's clones (or 'not a git clone')."""
    query = "p = pkg('list', 'image'); printf('%s\\t%s', version(), p{1}.version)"
    run = subprocess.run([OCTAVE, "--norc", "--quiet", "--eval", query], capture_output=True, text=True, timeout=120)
    octave, image = (run.stdout.strip().split("\t") + ["?", "?"])[:2]
    out = {"octave": octave, "octave-image": image}
    for name in REPOS:
        head = subprocess.run(["git", "-C", str(Path(gupta) / name), "rev-parse", "HEAD"], capture_output=True,
                              text=True)
        out[name] = head.stdout.strip() if head.returncode == 0 else "not a git clone"
    return out


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else None
    message = problem(folder)
    if message:
        print(message, file=sys.stderr)
        sys.exit(2)
    print(f"Octave and Gupta's HHA code found: {versions(folder)}")
