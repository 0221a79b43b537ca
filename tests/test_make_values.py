"""What you pass to make (SOURCE=, WEIGHTS=, NET=, ARGS= ...) reaches the kit through the environment, never the
shell's parsing nor make's own expansion (issue 29): a path with spaces, an apostrophe, $, backticks and unicode
works, and a value that would run a command, in the shell's syntax or in make's, runs nothing. make itself runs
here, in a subprocess, as a user runs it; each value carries commands that would create marker files."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from data import miniature

REPO = Path(__file__).resolve().parent.parent


def make(tmp_path: Path, *args: str, env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    stamp = tmp_path / "installed"
    stamp.touch()
    return subprocess.run(["make", "--no-print-directory", *args, f"STAMP={stamp}", f"PY={sys.executable}"],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MARK": str(tmp_path / "ran"), **(env or {})})


def hostile_folder(tmp_path: Path) -> Path:
    """A folder whose name would run three commands if a shell or make read it: `...`, $(...) and make's
    $(shell ...), each creating $MARK-something."""
    folder = tmp_path / "it's a $HOME `touch $MARK-backtick` $(touch $MARK-dollar) ${MARK} ünï"
    folder.mkdir()
    return folder


def ran(tmp_path: Path) -> list[str]:
    """The marker files a command that ran would have created."""
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran"))


def test_make_data_source_takes_any_path_and_runs_nothing_from_it(tmp_path):
    folder = hostile_folder(tmp_path)
    tree = miniature.build_voc(tmp_path / "src" / "VOC2012", n=2, size=(6, 6))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as t:
        t.add(tree, arcname="VOCdevkit/VOC2012")
    archive = folder / "VOC 2012.tar"
    archive.write_bytes(buffer.getvalue())
    md5 = hashlib.md5(buffer.getvalue()).hexdigest()
    data_root = tmp_path / "data"
    # The path in double quotes (its words stay one), and make's own $(shell ...) beside it as a second word.
    source = f'voc2012="{archive}#md5={md5}"'
    done = make(tmp_path, "data", "DATASET=voc2012", f"SOURCE={source}", env={"FCN_DATA": str(data_root)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"voc2012: unpacked into {data_root / 'VOC2012'} from {archive}" in done.stdout
    assert (data_root / "VOC2012" / "JPEGImages").is_dir() and ran(tmp_path) == []
    hostile = make(tmp_path, "data", "DATASET=voc2012", "SOURCE=$(shell touch $$MARK-make) `touch $$MARK-b`",
                   env={"FCN_DATA": str(tmp_path / "other")})
    assert hostile.returncode == 2 and "error: --source '$(shell': expected PART=URL_OR_PATH" in hostile.stderr
    assert "Traceback" not in hostile.stderr and ran(tmp_path) == []


def test_make_weights_source_and_net_run_nothing(tmp_path):
    env = {"FCN_WEIGHTS": str(tmp_path / "weights")}
    done = make(tmp_path, "weights", "NET=voc-fcn8s", "SOURCE='$(touch $MARK-dollar)' `touch $MARK-b`", env=env)
    assert done.returncode == 2 and "error: --source '$(touch $MARK-dollar)': expected an http" in done.stderr
    unclosed = make(tmp_path, "weights", "NET=voc-fcn8s", "SOURCE='http://lab/x.caffemodel", env=env)
    assert unclosed.returncode == 2 and "SOURCE \"'http://lab/x.caffemodel\": No closing quotation" in \
        unclosed.stderr and "Traceback" not in unclosed.stderr
    net = make(tmp_path, "weights", "NET=$(shell touch $$MARK-make)voc';touch $MARK-semi'", env=env)
    assert net.returncode == 2 and "no weights named \"$(shell touch $$MARK-make)voc';touch $MARK-semi'\"" in \
        net.stderr
    assert ran(tmp_path) == []


@pytest.mark.slow  # three table runs in subprocesses, each importing torch: about 15 s
def test_make_tables_weights_and_args_take_any_path_and_run_nothing(tmp_path):
    folder = hostile_folder(tmp_path)
    missing = folder / "my weights.h5"
    env = {"FCN_DATA": str(tmp_path / "data"), "FCN_WEIGHTS": str(tmp_path / "weights")}
    smoke = make(tmp_path, "reproduce-table3", "SMOKE=1", f"WEIGHTS={missing}", env=env, timeout=300)
    assert smoke.returncode == 2 and f"weights of voc-fcn8s given with --weights: {missing}" in smoke.stderr
    several = make(tmp_path, "reproduce-table2", f"WEIGHTS={missing}", env=env, timeout=300)
    assert several.returncode == 2 and f"--weights {missing}: Table 2 evaluates 4 nets" in several.stderr
    args = make(tmp_path, "reproduce-table3", "SMOKE=1", f'ARGS=--out "{folder / "out"}" --limit 1', env=env,
                timeout=300)
    assert args.returncode == 0, args.stdout + args.stderr
    assert (folder / "out" / "smoke" / "table3.json").is_file() and ran(tmp_path) == []
