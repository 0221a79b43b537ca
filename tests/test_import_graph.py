"""The package graph: what importing a package pulls in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import data


def test_importing_weights_pulls_in_neither_scipy_nor_pil() -> None:
    """weights/ uses data's file and download helpers only; data's readers (scipy) and pictures (PIL) load on
    first use."""
    code = "import sys, weights; print(sorted(m for m in ('scipy', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_data_names_are_the_readers_in_order() -> None:
    assert data.NAMES == tuple(data.READERS)


# The kit's rooms, bottom to top: a module may import its own room and the rooms below it, never above.
ROOMS = ("data", "nets", "weights", "reproduce", "benchmarks")
ROOT = Path(__file__).resolve().parent.parent


def _module_graph() -> dict[str, set[str]]:
    """Module -> the kit modules it imports (anywhere in the file, function bodies included; imports under
    ``if TYPE_CHECKING:`` left out: they never run)."""
    modules = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for candidate in candidates:
                target = owner(candidate)
                if target and target != name and not name.startswith(target + "."):
                    targets.add(target)
        graph[name] = targets
    return graph


def test_the_rooms_import_one_way_data_nets_weights_then_reproduce_and_benchmarks() -> None:
    upward = [f"{m} imports {t}" for m, ts in _module_graph().items() for t in ts
              if ROOMS.index(t.split(".")[0]) > ROOMS.index(m.split(".")[0])]
    assert upward == []


def test_no_module_of_the_kit_imports_itself_through_a_cycle() -> None:
    graph = _module_graph()
    cycles = []
    for start in graph:  # a cycle through start: start reaches itself
        seen, stack = set(), list(graph[start])
        while stack:
            node = stack.pop()
            if node == start:
                cycles.append(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
    assert cycles == []


def test_the_graph_reader_sees_relative_and_function_level_imports() -> None:
    """What the two checks above rest on: weights' old cycle went through an import inside a function."""
    graph = _module_graph()
    assert "weights.formats" in graph["weights.loader"] and "weights.h5" in graph["weights.formats"]
    assert "nets" in graph["reproduce.infer"]  # `import nets` inside main()
