"""DESIGN.md's dependency rules, checked by parsing every module's imports with ``ast``.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "facegate"
LEAVES = ("facegate.domain", "facegate.errors", "facegate.config", "facegate.config_access",
          "facegate.config_governance",
          "facegate.config_events", "facegate.config_compat", "facegate.config_liveness",
          "facegate.config_models", "facegate.config_feedback", "facegate.config_review",
          "facegate.config_detection")
ENTRY_POINTS = ("facegate.cli", "facegate.cli_store", "facegate.cli_evaluate",
                "facegate.cli_liveness", "facegate.cli_train", "facegate.cli_audit",
                "facegate.cli_access", "facegate.cli_common", "facegate.cli_system",
                "facegate.cli_feedback", "facegate.cli_review", "facegate.cli_governance",
                "facegate.api",
                "facegate.web",
                "facegate.__main__")
CLI_MODULES = ("facegate.cli", "facegate.cli_store", "facegate.cli_evaluate",
               "facegate.cli_liveness", "facegate.cli_train", "facegate.cli_audit",
               "facegate.cli_access", "facegate.cli_common", "facegate.cli_system",
               "facegate.cli_feedback", "facegate.cli_review", "facegate.cli_governance")
MAX_LINES = 350


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports; ``from a import b`` yields both ``a`` and ``a.b``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {
        _module_name(path): frozenset(_imports(path, _module_name(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def offenders(importer: tuple[str, ...] | None, imported: tuple[str, ...],
              allowed: tuple[str, ...] = ()) -> list[str]:
    """``module -> import`` pairs where a module (under ``importer``; None means any) imports
    something under ``imported``, unless the importing module is under ``allowed``."""
    return sorted(
        f"{module} -> {name}"
        for module, names in import_graph().items()
        if (importer is None or within(module, *importer)) and not within(module, *allowed)
        for name in names
        if within(name, *imported)
    )


def test_the_parser_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "detect.py"
    source.write_text("import numpy as np\nfrom . import align\nfrom ..storage.base import X\n"
                      "def f():\n    from facegate import errors\n")
    assert _imports(source, "facegate.pipeline.detect") == {
        "numpy", "facegate.pipeline", "facegate.pipeline.align", "facegate.storage.base",
        "facegate.storage.base.X", "facegate", "facegate.errors"}
    graph = import_graph()
    assert "facegate.runtime.dlib_backend" in graph["facegate.bootstrap"]
    assert "facegate.bootstrap" in graph["facegate.cli"]  # an import inside a function
    assert "facegate.storage.sqlite" in graph["facegate.storage.base"]
    assert {"facegate.domain", "facegate.errors", "facegate.config"} <= set(graph)


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_import_nothing_from_facegate(leaf: str) -> None:
    """Leaves import no other part of facegate (config imports its own sections' leaf)."""
    assert [name for name in import_graph()[leaf]
            if within(name, "facegate") and not within(name, *LEAVES)] == []


def test_pipeline_and_storage_never_import_each_other() -> None:
    assert offenders(("facegate.pipeline",), ("facegate.storage",)) == []
    assert offenders(("facegate.storage",), ("facegate.pipeline",)) == []


def test_core_never_imports_the_layers_above_it() -> None:
    core = ("facegate.pipeline", "facegate.matching", "facegate.classifier", "facegate.storage",
            "facegate.runtime")
    above = ("facegate.services", "facegate.bootstrap", *ENTRY_POINTS)
    assert offenders(core, above) == []
    assert offenders(("facegate.services",), ("facegate.bootstrap",)) == []


@pytest.mark.parametrize("module", ["facegate.matching", "facegate.classifier"])
def test_matching_is_pure_numpy(module: str) -> None:
    names = import_graph()[module]
    assert [n for n in names if within(n, "facegate") and not within(n, *LEAVES)] == []
    assert [n for n in names if within(n, "sklearn", "scipy")] == []


def test_web_frameworks_only_in_the_http_entry_points() -> None:
    assert offenders(None, ("fastapi", "starlette", "uvicorn"),
                     allowed=("facegate.api", "facegate.web", "facegate.cli")) == []
    assert offenders(None, ("fastapi", "starlette"), allowed=("facegate.api", "facegate.web")) \
        == []


def test_cli_libraries_only_in_cli() -> None:
    assert offenders(None, ("typer", "rich", "click"),
                     allowed=CLI_MODULES) == []


def test_nothing_imports_the_entry_points() -> None:
    commands = tuple(m for m in CLI_MODULES if m != "facegate.cli_common")
    assert offenders(None, commands, allowed=("facegate.cli", "facegate.__main__")) == []
    assert offenders(None, ("facegate.cli_common",), allowed=CLI_MODULES) == []
    assert offenders(None, ("facegate.api",),
                     allowed=("facegate.api", *CLI_MODULES, "facegate.web")) == []
    # The app factory mounts the console; nothing else under api/ knows it exists.
    assert offenders(None, ("facegate.web",),
                     allowed=("facegate.web", "facegate.cli", "facegate.api.app")) == []


def test_services_use_protocols_not_backends() -> None:
    backends = ("facegate.runtime", "facegate.storage.sqlite", "facegate.storage.memory",
                "facegate.storage.postgres")
    assert offenders(("facegate.services",), backends) == []


def test_only_bootstrap_picks_runtime_backends() -> None:
    assert offenders(None, ("facegate.runtime",),
                     allowed=("facegate.runtime", "facegate.bootstrap")) == []
    assert offenders(None, ("dlib", "onnxruntime"), allowed=("facegate.runtime",)) == []


def test_modules_stay_small() -> None:
    too_long = {
        _module_name(path): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"modules over {MAX_LINES} lines (aim for ~300): {too_long}"
