"""How the kit is run: make targets explain what to pass, make's exit status is what the README says, every
hint names a command that works outside the kit's environment, and make setup installs the kit so that it
imports from any folder."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from data.layout import KIT_ROOT, kit_command

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("nets", "weights", "data", "reproduce")
SCANNED = (*PACKAGES, "benchmarks")  # what prints commands: the kit and its measuring tools


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
             for package in SCANNED for path in sorted((REPO / package).rglob("*.py"))
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
    assert [str(Path(f).resolve()) for f in out.stdout.split()] == [str(REPO / p / "__init__.py") for p in PACKAGES]
    # tests/ and results/ are not part of the kit.
    assert subprocess.run([str(python), "-c", "import tests"], cwd=elsewhere, env=env,
                          capture_output=True).returncode != 0


# ---- every command the kit prints is one that runs --------------------------------------------------------
#
# What the kit prints is collected where it is made: the messages of its modules (string constants and
# f-strings, each placeholder standing for any value, and every kit_command(...) call), the ledger that
# `make audit` and the report print, the tables' rows, notes and the commands each row prints, and the
# README's code. Each `make ...` found is checked with `make -n` (make rejects an unknown option or target
# before running anything), each `python -m MODULE ...` of the kit with MODULE's --help: the module exists,
# and every --option the command passes is one it takes.

HOLE = "\x00"  # an f-string placeholder while the text is scanned
MAKE_COMMAND = re.compile(rf"\bmake ([a-z{HOLE}][\w{HOLE}%-]*(?:[ \t]+(?:[A-Z][A-Z_]*=(?:\"[^\"]*\"|'[^']*'|"
                          rf"[^\s`'\",;)<]+)|--?[a-z][\w-]*(?:=[^\s`'\",;)<]+)?))*)")
PYTHON_M = re.compile(rf"(?:python3?|\.venv/bin/python|{HOLE}) -m ((?:nets|weights|data|reproduce)"
                      rf"[\w.{HOLE}]*)((?:[ \t]+(?!#)[^\s`'\"|;&)<]+)*)")


def _text(node: ast.AST) -> str | None:
    """A string constant, or an f-string with HOLE for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
    return None


def module_texts(path: Path) -> list[str]:
    """What a module may print: its strings (f-strings whole) and each kit_command(...) call as the command
    it makes."""
    tree = ast.parse(path.read_text())
    inner = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = [t for node in ast.walk(tree) if id(node) not in inner and (t := _text(node)) is not None]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "kit_command":
            parts = [_text(a) for a in node.args]
            out.append("python -m " + " ".join(p if p is not None else HOLE for p in parts))
    return out


DOCUMENTS = ("README.md", "CONTRIBUTING.md", "docs/*.md")


def readme_texts() -> list[str]:
    """The code of the README, CONTRIBUTING.md and docs/: fenced blocks line by line, and inline code spans."""
    text = "\n".join(p.read_text() for pattern in DOCUMENTS for p in sorted(REPO.glob(pattern)))
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def runtime_texts() -> list[str]:
    """What the audit, the ledger, the report and the table scripts print, made from the kit's data."""
    from reproduce import runner, tables
    from reproduce.audit import ledger
    from weights import zoo

    out = [ledger.summary()]
    out += [str(v) for row in ledger.as_rows() for v in row.values()]
    for table in tables.TABLES.values():
        out += list(table.notes)
        for row in table.rows:
            out += [row.note, *runner.how_to_run(table, row)]
    out += list(zoo.UNRELEASED.values())
    return out


def printed_commands() -> dict[str, set[str]]:
    """Every make and kit python -m command found, with where it was found."""
    found: dict[str, set[str]] = {}
    sources = [(f"{p.relative_to(REPO)}", module_texts(p)) for package in SCANNED
               for p in sorted((REPO / package).rglob("*.py"))]
    sources += [("README.md, CONTRIBUTING.md, docs/", readme_texts()), ("ledger, tables, zoo", runtime_texts())]
    for origin, texts in sources:
        for text in texts:
            for match in MAKE_COMMAND.finditer(text):
                found.setdefault("make " + match.group(1).strip(), set()).add(origin)
            for match in PYTHON_M.finditer(text):
                found.setdefault(f"python -m {match.group(1)}{match.group(2)}".strip(), set()).add(origin)
    return found


def makefile_targets() -> list[str]:
    text = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", text, re.M))
    for group in re.findall(r"^(?:TABLES|RETRAINS) := (.*)$", text, re.M):
        targets |= set(group.split())
    return sorted(targets)


def _fill_target(target: str, targets: list[str]) -> str | None:
    """A target with a placeholder (HOLE, or the docs' N as in reproduce-tableN) as a real target it stands for."""
    if target in targets:
        return target
    pattern = re.escape(target).replace(re.escape(HOLE), r"\w+")
    pattern = re.sub(r"N$", r"\\d+", pattern)
    return next((t for t in targets if re.fullmatch(pattern, t)), None)


def _looks_like_a_command(command: str, targets: list[str]) -> bool:
    """Prose ("make sure", "make the net") is not a command: a target of the Makefile's, or words that
    carry a VAR=value or an option, are."""
    words = command.split()
    if not words[1].strip(HOLE):
        return False  # "cannot make {net}": a placeholder alone is prose's object, not a target
    return _fill_target(words[1], targets) is not None or len(words) > 2 or "-" in words[1]


def test_the_collector_finds_the_commands_people_are_told_to_run():
    """A collector that finds nothing would pass every check below."""
    found = printed_commands()
    for expected in ("make weights NET=" + HOLE, "make audit", "make reproduce-table" + HOLE):
        assert any(c.startswith(expected) for c in found), expected
    assert any(c.startswith("python -m weights.transplant --net") for c in found)
    assert any(c.startswith("python -m reproduce.table") and "--retrained" in c for c in found)


def test_every_make_command_the_kit_prints_is_accepted_by_make(tmp_path):
    targets = makefile_targets()
    stamp = tmp_path / "installed"
    stamp.touch()
    bad = []
    for command, origins in sorted(printed_commands().items()):
        if not command.startswith("make ") or not _looks_like_a_command(command, targets):
            continue
        words = shlex.split(command.replace(HOLE, "X"), posix=True)
        target = _fill_target(command.split()[1], targets)
        if target is None:
            bad.append(f"{command!r} ({', '.join(sorted(origins))}): no make target {words[1]!r}")
            continue
        if len(words) == 2:
            continue  # a bare target names it (a command table, "pass INIT= to make train"): it exists
        dry = subprocess.run(["make", "-n", "--no-print-directory", target, *words[2:], f"STAMP={stamp}",
                              f"PY={sys.executable}"], cwd=REPO, capture_output=True, text=True, timeout=60)
        if dry.returncode != 0:
            bad.append(f"{command!r} ({', '.join(sorted(origins))}): {dry.stderr.strip().splitlines()[0]}")
    assert bad == [], "commands the kit prints that make rejects:\n" + "\n".join(bad)


def _help(module: str, words: list[str]) -> str:
    """MODULE's --help (and its sub-command's, when the command names one), from its main(argv) as
    ``python -m MODULE`` runs it; "" when --help fails."""
    package = importlib.import_module(module)
    main = getattr(package, "main", None)
    if main is None:  # a package run through its __main__.py, which calls the main of one of its modules
        text = (Path(package.__file__).parent / "__main__.py").read_text()
        inner = re.search(r"from [.](\w+) import main", text).group(1)
        main = importlib.import_module(f"{module}.{inner}").main
    texts = []
    for argv in (["--help"], *([[words[0], "--help"]] if words and re.fullmatch("[a-z]+", words[0]) else [])):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            try:
                main(argv)
            except SystemExit as e:
                if e.code not in (0, None):
                    continue
        texts.append(out.getvalue())
    return "\n".join(texts)


def test_every_python_m_command_the_kit_prints_names_a_module_and_options_it_takes():
    modules = {path.relative_to(REPO).with_suffix("").as_posix().replace("/", ".").removesuffix(".__main__")
               for package in SCANNED for path in (REPO / package).rglob("*.py")
               if path.name == "__main__.py" or 'if __name__ == "__main__":' in path.read_text()}  # python -m
    bad, helps = [], {}
    for command, origins in sorted(printed_commands().items()):
        if not command.startswith("python -m "):
            continue
        module, *words = command.split()[2:]
        pattern = re.sub(r"N$", r"\\d+", re.escape(module).replace(re.escape(HOLE), r"\w+"))
        named = sorted(m for m in modules if re.fullmatch(pattern, m))
        if not named:
            bad.append(f"{command!r} ({', '.join(sorted(origins))}): no module {module}")
            continue
        for name in named:
            key = (name, words[0] if words and re.fullmatch("[a-z]+", words[0]) else "")
            if key not in helps:
                helps[key] = _help(name, words)
            text = helps[key]
            if not text:
                bad.append(f"{command!r} ({', '.join(sorted(origins))}): {name} --help fails")
                continue
            options = [w.strip("[]").split("=")[0] for w in words]
            unknown = [o for o in options if o.startswith("--")
                       and not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)]
            if unknown:
                bad.append(f"{command!r} ({', '.join(sorted(origins))}): {name} takes no {', '.join(unknown)}")
    assert bad == [], "commands the kit prints that do not run:\n" + "\n".join(bad)


def test_the_docs_training_regime_table_marks_one_row_default():
    text = (REPO / "docs" / "distributed.md").read_text()
    table = text[text.index("| regime | flag |"):].split("\n\n")[0].splitlines()[2:]
    flags = [row.split("|")[2].strip() for row in table]
    assert len(flags) >= 2 and sum(f.startswith("default") for f in flags) == 1, flags


def test_the_readme_is_a_front_door_and_links_only_to_files_that_exist():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert "docs/data.md" in links and "CONTRIBUTING.md" in links
    assert [link for link in links if not (REPO / link).is_file()] == []
