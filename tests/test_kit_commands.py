"""How the kit is run: make targets explain what to pass, make's exit status is what the README says, every
hint names a command that works outside the kit's environment, and make setup installs the kit so that it
imports from any folder."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from data.layout import KIT_ROOT, kit_command

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("nets", "weights", "data", "reproduce")


def make(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """make in the checkout with a fresh stamp, so that no target reinstalls the (shared) environment."""
    stamp = tmp_path / "installed"
    stamp.touch()
    return subprocess.run(["make", "--no-print-directory", *args, f"STAMP={stamp}", f"PY={sys.executable}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_make_weights_without_net_explains_what_to_pass(tmp_path):
    done = make(tmp_path, "weights")
    assert done.returncode == 2
    assert "make weights needs NET=<name>, for example: make weights NET=voc-fcn8s; the names: make " \
           "weights-list" in done.stderr
    assert "usage:" not in done.stderr and "required" not in done.stderr


def test_make_train_without_init_explains_what_to_pass(tmp_path):
    done = make(tmp_path, "train", "NET=voc-fcn32s")
    assert done.returncode == 2, done.stderr
    assert "expected one argument" not in done.stderr
    assert "cannot train voc-fcn32s: no starting weights. Pass them with INIT=FILE.h5 to make train" in done.stderr
    assert "weights.transplant --net voc-fcn32s --out INIT.h5" in done.stderr
    done = make(tmp_path, "train")
    assert done.returncode == 2 and "make train needs NET=<name>" in done.stderr


def test_make_exits_2_on_any_failure_and_prints_the_commands_own_status(tmp_path):
    """What the README says: through make every failure is make's status 2, and make's last line carries the
    command's own status (1: a check failed or a bad file, 2: inputs missing)."""
    empty = {"FCN_DATA": str(tmp_path / "data"), "FCN_WEIGHTS": str(tmp_path / "weights")}
    missing = make(tmp_path, "reproduce-table2", env=empty)
    assert missing.returncode == 2 and re.search(r"\[Makefile:\d+: reproduce-table2\] Error 2$", missing.stderr)
    failed = make(tmp_path, "weights", "NET=voc-fcn99s", env=empty)
    assert failed.returncode == 2 and "no weights named 'voc-fcn99s'" in failed.stderr
    assert re.search(r"\[Makefile:\d+: weights\] Error 1$", failed.stderr)


def _messages(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module (f-string parts too), docstrings included: what a user may read."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_no_message_of_the_kit_tells_the_user_to_run_a_bare_python_m():
    bare = re.compile(r"(?<![/\w.])python3? -m ")
    found = [f"{path.relative_to(REPO)}:{line}: {text.strip()[:80]}"
             for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             for line, text in _messages(path) if bare.search(text)]
    assert found == [], "route these through data.layout.kit_command or name a make target:\n" + "\n".join(found)


def test_kit_command_names_the_kits_python_from_its_root_and_its_full_path_elsewhere(tmp_path, monkeypatch):
    assert KIT_ROOT == REPO
    venv_python = REPO / ".venv" / "bin" / "python"
    if not venv_python.exists():
        pytest.fail("the kit's environment is missing; make it with `make setup`", pytrace=False)
    monkeypatch.chdir(REPO)
    assert kit_command("weights.zoo", "fetch", "NAME") == ".venv/bin/python -m weights.zoo fetch NAME"
    monkeypatch.chdir(tmp_path)
    assert kit_command("weights.zoo", "list") == f"{venv_python} -m weights.zoo list"


def test_a_hint_runs_as_printed_in_a_shell_outside_the_kits_environment():
    """The shell a user types in has no virtual environment active: no .venv/bin on PATH, no VIRTUAL_ENV."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")} | {"PATH": path}
    command = subprocess.run([sys.executable, "-c", "from data.layout import kit_command; "
                              "print(kit_command('weights.zoo', 'list'))"], cwd=REPO, capture_output=True,
                             text=True, check=True, timeout=60).stdout.strip()
    done = subprocess.run(command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (command, done.stderr)
    assert "weights folder:" in done.stdout


@pytest.mark.slow  # a virtual environment and an editable install: about 10 s of pip
def test_make_setup_installs_the_kit_so_that_it_imports_from_any_folder(tmp_path):
    """make setup in a throwaway environment (VENV=...): it sees the pinned requirements through a .pth file
    naming this environment's site-packages (so pip finds them satisfied, offline), then installs the kit
    editable. The kit then imports from a folder that is not the checkout, and the checkout is what it runs."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "requirements_from_kit_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    command = ["make", "--no-print-directory", "setup", f"VENV={venv}", f"STAMP={venv}/.installed"]
    # First a dry run: every command must work in the throwaway environment, never in the checkout's .venv
    # (which may be an environment shared with other checkouts).
    dry = subprocess.run([*command, "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=60)
    lines = [line for line in dry.stdout.splitlines() if line.strip()]
    assert dry.returncode == 0 and lines, dry.stdout + dry.stderr
    assert all(str(venv) in line for line in lines) and ".venv" not in dry.stdout, dry.stdout
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--editable ." in done.stdout and (venv / ".installed").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import nets, weights, data, reproduce; print(*(m.__file__ for m in (nets, weights, data, reproduce)))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(python), "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(REPO / p / "__init__.py") for p in PACKAGES]
    # tests/ and results/ are not part of the kit.
    assert subprocess.run([str(python), "-c", "import tests"], cwd=elsewhere, env=env,
                          capture_output=True).returncode != 0
