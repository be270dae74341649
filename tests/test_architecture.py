"""The architecture, read from the project's imports: one direction of dependencies, no
cycles, and each heavy library imported by the one module that owns it.

Every import counts, at the top of a module or inside a function: a lazy import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gifsearch", "ingest", "search_app", "search_eval", "exercises")
BENCHMARKS = ROOT / "benchmarks"
CORE = (
    "search_app.settings",
    "search_app.records",
    "search_app.errors",
    "search_app.embedder",
    "search_app.fast_embedder",
    "search_app.onnx_export",
    "search_app.store",
    "search_app.ranking",
    "search_app.search",
)
NOT_FROM_CORE = (
    "search_app.web",
    "search_app.cards",
    "search_eval",
    "ingest",
    "exercises",
    "gifsearch",
)
OWNERS = {  # library -> the only project modules that may import it
    "chromadb": {"search_app.store"},
    "sentence_transformers": {
        "search_app.embedder",
        "search_app.onnx_export",
        "exercises.encoder",  # the exercises load their own SBERT (they import no search_app)
    },
    "onnxruntime": {"search_app.fast_embedder", "search_app.onnx_export"},
    "gradio": {"search_app.web"},
}


def project_modules() -> dict[str, Path]:
    """Return every project module by dotted name (benchmark scripts by their file name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    for path in sorted(BENCHMARKS.glob("*.py")):
        modules[path.stem] = path  # scripts import each other by bare name
    return modules


MODULES = project_modules()


def imported_names(path: Path) -> set[str]:
    """Return the dotted names a module imports (from X import Y gives X and X.Y)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_edges(name: str) -> set[str]:
    """Return the project modules a module depends on (its packages' __init__ left out)."""
    edges = set()
    for imported in imported_names(MODULES[name]):
        target = imported
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        own_package = name.startswith(target + ".")
        is_init = target and MODULES[target].name == "__init__.py" and target != imported
        if target and target != name and not own_package and not is_init:
            edges.add(target)
    return edges


GRAPH = {name: project_edges(name) for name in MODULES}


def reachable(start: str) -> set[str]:
    """Return every project module start depends on, directly or not."""
    seen: set[str] = set()
    todo = list(GRAPH[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(GRAPH[name])
    return seen


def test_the_project_modules_are_found() -> None:
    assert {"search_app.search", "gifsearch.cli", "ingest.job", "bench"} <= set(MODULES)


def test_no_import_cycles() -> None:
    cycles = sorted(name for name in GRAPH if name in reachable(name))
    assert cycles == [], f"modules on an import cycle: {cycles}"


@pytest.mark.parametrize("module", [m for m in CORE if m in MODULES])
def test_the_core_imports_neither_the_web_app_eval_ingest_nor_the_exercises(module: str) -> None:
    bad = sorted(
        name for name in reachable(module) if name.startswith(NOT_FROM_CORE) or name in ("bench",)
    )
    assert bad == [], f"{module} depends on {bad}"


def test_the_exercises_import_nothing_else_of_the_project() -> None:
    for name in MODULES:
        if name.startswith("exercises"):
            others = sorted(m for m in reachable(name) if not m.startswith("exercises"))
            assert others == [], f"{name} depends on {others}"


def test_ingest_is_not_imported_by_the_search_app() -> None:
    for name in MODULES:
        if name.startswith("search_app"):
            assert not any(m.startswith("ingest") for m in reachable(name)), name


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_heavy_library_has_one_owner(library: str) -> None:
    importers = sorted(
        name
        for name, path in MODULES.items()
        if any(n == library or n.startswith(library + ".") for n in imported_names(path))
    )
    assert set(importers) <= OWNERS[library], f"{library} imported by {importers}"


def test_cli_parsing_loads_no_benchmark_code() -> None:
    assert not any(name in MODULES and name.count(".") == 0 for name in reachable("gifsearch.cli")
                   if (BENCHMARKS / f"{name}.py").exists())  # fmt: skip
