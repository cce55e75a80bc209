"""The package's shape, checked by reading its source (issue 22): no private name crosses a module
boundary, ``table`` → ``distributed`` one way, no module of ``dynamo`` over 600 lines, and the
``dynamo`` package docstring maps every module in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xacct_nb
import xacct_nb.dynamo

PACKAGE = Path(xacct_nb.__file__).parent
DYNAMO = PACKAGE / "dynamo"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module an ImportFrom names (``from ..x import y`` inside ``importer``)."""
    if not level:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def private_crossings(source: str, importer: str, is_package: bool = False) -> list[str]:
    """``from .x import _y`` and ``x._y`` (``x`` an imported module of this package) — a private
    name used outside the module that defines it. Dunder names are not private."""
    tree = ast.parse(source)
    found: list[str] = []
    modules: set[str] = set()  # local names bound to modules of the package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = resolve(importer, is_package, node.level, node.module)
            if not origin.startswith("xacct_nb"):
                continue
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and origin != importer:
                    found.append(f"{importer}: from {origin} import {name}")
                if not name.startswith("_"):
                    modules.add(alias.asname or name)  # may be a submodule: checked below
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("xacct_nb"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in modules and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append(f"{importer}: {node.value.id}.{node.attr}")
    return found





def test_the_check_finds_what_it_looks_for():
    assert private_crossings("from .arrow_types import _typed\n", "xacct_nb.dynamo.table") == [
        "xacct_nb.dynamo.table: from xacct_nb.dynamo.arrow_types import _typed"]
    assert private_crossings("from . import table\ntable._check(1)\n", "xacct_nb.dynamo.x") == [
        "xacct_nb.dynamo.x: table._check"]
    assert private_crossings("from ._wire import tags\n", "xacct_nb.dynamo.x") == []
    assert private_crossings("from .x import __all__\n", "xacct_nb.dynamo.y") == []
    assert private_crossings("from ..sessions import _assume_as\n", "xacct_nb.dynamo.t") == [
        "xacct_nb.dynamo.t: from xacct_nb.sessions import _assume_as"]


def test_no_private_name_is_imported_across_modules():
    found = [hit for path in PACKAGE.rglob("*.py")
             for hit in private_crossings(path.read_text(), module_name(path),
                                          path.name == "__init__.py")]
    assert found == []


def imported_modules(path: Path) -> set[str]:
    name = module_name(path)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            origin = resolve(name, path.name == "__init__.py", node.level, node.module)
            out.add(origin)
            out.update(f"{origin}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def test_distributed_never_imports_table():
    assert "xacct_nb.dynamo.table" not in imported_modules(DYNAMO / "distributed.py")
    assert "xacct_nb.dynamo.distributed" in imported_modules(DYNAMO / "table.py")


@pytest.mark.parametrize("path", sorted(DYNAMO.glob("*.py")), ids=lambda p: p.name)
def test_no_dynamo_module_is_over_600_lines(path):
    assert len(path.read_text().splitlines()) <= 600


def test_the_dynamo_docstring_maps_every_module():
    doc = xacct_nb.dynamo.__doc__ or ""
    listed = {line.split()[0] for line in doc.splitlines() if line.startswith("    ") and line.split()}
    modules = {p.stem for p in DYNAMO.glob("*.py") if p.name != "__init__.py"}
    assert modules - listed == set()
    assert listed & {"arrow", "frame", "export", "exports", "arrow_read"} == set()
