"""The compiled modules (scripts/compile.py): none defines a msgspec schema, none is stale."""

from __future__ import annotations

import ast
import importlib

import msgspec
import pytest

from scripts.compile import MODULES, ROOT, extension_of


def schemas_in(module: str) -> list[str]:
    """The msgspec Structs that `module` (a path under ROOT) defines, whatever their base
    is called, and each place it writes `Annotated`: what mypyc would strip of limits."""
    namespace = vars(importlib.import_module(module.removesuffix(".py").replace("/", ".")))
    found = [
        name
        for name, value in namespace.items()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == namespace["__name__"]
    ]
    for node in ast.walk(ast.parse((ROOT / module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name | ast.Attribute) and ast.unparse(node).endswith("Annotated"):
            found.append(f"Annotated (line {node.lineno})")
    return found


def test_a_schema_is_found_where_there_is_one() -> None:
    found = schemas_in("realtime/envelope.py")
    assert found[:3] == ["_Request", "_Response", "_Error"]
    assert len(found) == 6 and all(name.startswith("Annotated (line ") for name in found[3:])
    # One based on another (`UpgradeChoice` on `Authed`), whose base is not called Struct.
    assert schemas_in("handlers/clicker/commands.py")[:2] == ["Authed", "UpgradeChoice"]
    # Only its own: game.py holds rules.py's `Progress` and defines none.
    assert "Progress" in vars(importlib.import_module("handlers.clicker.game"))
    assert schemas_in("handlers/clicker/game.py") == []


@pytest.mark.parametrize("module", MODULES)
def test_a_compiled_module_defines_no_schema(module: str) -> None:
    assert schemas_in(module) == []


@pytest.mark.parametrize("module", MODULES)
def test_a_compiled_module_is_not_older_than_its_source(module: str) -> None:
    source, extension = ROOT / module, extension_of(module)
    if extension is not None:
        assert extension.stat().st_mtime >= source.stat().st_mtime, (
            f"{extension.name} is older than {module}: run `make test` (or `make python`)"
        )
