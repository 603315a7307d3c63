"""The layers the README promises, read from the imports with ``ast`` so that they stay true:

- ``settings/`` knows nothing of the worker, the web, ops or the wiring;
- a state backend (``state/sqlite``, ``state/aws``) imports only the state's model and ports,
  the group writer, the errors, the order dataclasses and its own modules;
- the RAYNET side and the Money S3 side never import each other (the order dataclasses
  carry the order between them);
- no import inside a function hides a cycle (moved to the top, it would make one);
- ``outbox is None`` is nowhere: both modes have an outbox.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support import ROOT

PACKAGE = ROOT / "webhook"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imported(node: ast.Import | ast.ImportFrom, here: str) -> Iterator[str]:
    """The ``webhook`` modules an import statement names (``from x import y`` may name a
    module ``x.y``, or a name in ``x``: both are given, the caller keeps what exists)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = here.split(".")[: -node.level] if node.level else []
        base = ".".join([*package, base] if base else package)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def imports_of(tree: ast.Module, here: str, known: set[str], *, top: bool) -> set[str]:
    """The known modules imported at the top of ``tree`` (``top``), or inside functions."""
    found: set[str] = set()
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if (id(node) in nested) == top:
            continue
        found.update(name for name in imported(node, here) if name in known)
    return found


def test_settings_import_nothing_of_the_worker_web_ops_or_wiring() -> None:
    trees = modules()
    known = set(trees)
    for name, tree in trees.items():
        if name.startswith("webhook.settings"):
            wrong = {
                dependency
                for dependency in imports_of(tree, name, known, top=True)
                | imports_of(tree, name, known, top=False)
                if dependency.startswith(
                    ("webhook.worker", "webhook.web", "webhook.ops", "webhook.wiring")
                )
            }
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_state_backends_import_only_the_model_and_the_ports() -> None:
    allowed = (
        "webhook.state.model",
        "webhook.state.ports",
        "webhook.state.batching",
        "webhook.errors",
        "webhook.order",
    )
    trees = modules()
    known = set(trees)
    for backend in ("webhook.state.sqlite", "webhook.state.aws"):
        for name, tree in trees.items():
            if not name.startswith(backend):
                continue
            dependencies = imports_of(tree, name, known, top=True) | imports_of(
                tree, name, known, top=False
            )
            wrong = {
                d for d in dependencies if not d.startswith((*allowed, backend)) and d != "webhook"
            }
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_the_raynet_and_money_s3_sides_never_import_each_other() -> None:
    trees = modules()
    known = set(trees)
    for side, other in (
        ("webhook.raynet", "webhook.moneys3"),
        ("webhook.moneys3", "webhook.raynet"),
    ):
        for name, tree in trees.items():
            if name.startswith(side):
                both = imports_of(tree, name, known, top=True) | imports_of(
                    tree, name, known, top=False
                )
                assert not {d for d in both if d.startswith(other)}, f"{name} imports {other}"


def test_no_import_inside_a_function_hides_a_cycle() -> None:
    trees = modules()
    known = set(trees)
    graph = {name: imports_of(tree, name, known, top=True) for name, tree in trees.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(graph.get(current, ()))
        return False

    hidden = [
        (name, late)
        for name, tree in trees.items()
        for late in imports_of(tree, name, known, top=False)
        if reaches(late, name)
    ]
    assert hidden == []


def test_both_modes_have_an_outbox() -> None:
    said = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if "outbox is None" in path.read_text() or "outbox is not None" in path.read_text()
    ]
    assert said == []
