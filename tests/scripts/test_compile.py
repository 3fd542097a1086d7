"""The compiled modules (scripts/compile.py): none defines a msgspec schema, none is stale."""

from __future__ import annotations

import ast

import pytest

from scripts.compile import MODULES, ROOT, extension_of


def schemas_in(source: str) -> list[str]:
    """The names of the classes in `source` based on a msgspec Struct, and each place it
    writes `Annotated`: what mypyc would strip of its limits."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and any(
            "Struct" in ast.unparse(base) for base in node.bases
        ):
            found.append(node.name)
        elif isinstance(node, ast.Name | ast.Attribute) and ast.unparse(node).endswith("Annotated"):
            found.append(f"Annotated (line {node.lineno})")
    return found


def test_a_schema_is_found_where_there_is_one() -> None:
    source = (ROOT / "realtime" / "envelope.py").read_text(encoding="utf-8")
    found = schemas_in(source)
    assert found[:3] == ["_Request", "_Response", "_Error"]
    assert len(found) == 6 and all(name.startswith("Annotated (line ") for name in found[3:])


@pytest.mark.parametrize("module", MODULES)
def test_a_compiled_module_defines_no_schema(module: str) -> None:
    assert schemas_in((ROOT / module).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("module", MODULES)
def test_a_compiled_module_is_not_older_than_its_source(module: str) -> None:
    source, extension = ROOT / module, extension_of(module)
    if extension is not None:
        assert extension.stat().st_mtime >= source.stat().st_mtime, (
            f"{extension.name} is older than {module}: run `make test` (or `make python`)"
        )
