"""Rules of the test suite and the benches themselves (issue 21), read from their source: they use
the product through its public names only (no ``_private`` function of license_usage or
usage_local), and the store tests stand on their own (no import of the benches)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("license_usage", "usage_local")


def _private_uses(path: Path) -> list[str]:
    """Every ``_name`` of a product module that ``path`` imports or reads as an attribute."""
    tree = ast.parse(path.read_text())
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    modules: dict[str, str] = {}  # local name -> product module it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PRODUCT:
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{where}:{node.lineno} imports {node.module}.{alias.name}")
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PRODUCT:
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{where}:{node.lineno} reads {modules[node.value.id]}.{node.attr}")
    return found


def _sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def test_tests_and_benches_use_no_private_name_of_the_product() -> None:
    assert [use for path in _sources("tests", "bench") for use in _private_uses(path)] == []


def test_the_rule_sees_a_private_import_and_a_private_attribute(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from license_usage.store.events import _put_if_absent\n"
        "from usage_local import faults\n"
        "faults._installed\n"
    )
    uses = _private_uses(sample)
    assert [use.split(" ", 1)[1] for use in uses] == [
        "imports license_usage.store.events._put_if_absent",
        "reads usage_local.faults._installed",
    ]


def test_store_tests_do_not_import_the_benches() -> None:
    importing = []
    for path in _sources("tests/store"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            importing += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] == "bench"]
    assert importing == []
