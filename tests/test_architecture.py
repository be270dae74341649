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
KERNEL = "search_app"  # the modules directly in search_app/: settings, records, errors, ...
# Each folder (room) and the rooms its modules may import, besides their own. The core's
# rooms come first: nothing there imports a front end, eval, ingest or the exercises.
ROOMS: dict[str, set[str]] = {
    KERNEL: set(),
    "search_app.store": {KERNEL},
    "search_app.embedders": {KERNEL},
    "search_app.retrieval": {KERNEL, "search_app.store", "search_app.embedders"},
    "search_app.web": {KERNEL, "search_app.retrieval", "search_app.embedders"},
    "ingest": {KERNEL, "search_app.store", "search_app.embedders"},
    "search_eval": {KERNEL, "search_app.store", "search_app.embedders", "search_app.retrieval"},
    "gifsearch": {
        KERNEL,
        *PACKAGES,
        "search_app.store",
        "search_app.embedders",
        "search_app.retrieval",
        "search_app.web",
    },  # fmt: skip
    "exercises": set(),
}
ENGINE = "search_app.retrieval.engine"
PROBE = "search_app.retrieval.probe"  # eval's one seam into the ranking's inner steps
FRONT_ENDS = ("gifsearch", "search_app.web", "search_eval")  # the engine's only callers
OWNERS = {  # library -> the only project modules that may import it
    "chromadb": {"search_app.store.client"},
    "sentence_transformers": {
        "search_app.embedders.sbert",
        "search_app.embedders.onnx_export",
        "exercises.encoder",  # the exercises load their own SBERT (they import no search_app)
    },
    "onnxruntime": {"search_app.embedders.onnx_embedder", "search_app.embedders.onnx_export"},
    "gradio": {"search_app.web.app"},
    "sklearn": {"search_app.retrieval.categories"},
    "uvicorn": {"search_app.web.server"},
    "mcp": {"search_app.web.api.assistant"},
    "fastapi": {  # the API's faces and the outer layer they are mounted on
        "search_app.web.api.faces",
        "search_app.web.api.native",
        "search_app.web.api.giphy",
        "search_app.web.api.tenor",
        "search_app.web.api.gate",
    },
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


def room_of(name: str) -> str:
    """Return the room (folder) a project module lives in."""
    rooms = [room for room in ROOMS if name == room or name.startswith(room + ".")]
    if not rooms:
        return ""
    room = max(rooms, key=len)
    if room == KERNEL and name.count(".") > 1:  # a sub-package that is no room yet
        return name.rpartition(".")[0]
    return room


def test_the_project_modules_are_found() -> None:
    assert {ENGINE, "gifsearch.cli", "ingest.job", "bench"} <= set(MODULES)


def test_every_folder_of_the_packages_is_a_room() -> None:
    folders = {room_of(name) for name in MODULES if name.split(".")[0] in PACKAGES}
    assert folders <= set(ROOMS), f"folders without a rule in ROOMS: {folders - set(ROOMS)}"


def test_no_import_cycles() -> None:
    cycles = sorted(name for name in GRAPH if name in reachable(name))
    assert cycles == [], f"modules on an import cycle: {cycles}"


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_room_imports_only_the_rooms_it_may(room: str) -> None:
    allowed = ROOMS[room] | {room}
    bad = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if room_of(name) == room
        for target in GRAPH[name]
        if room_of(target) not in allowed
    )
    assert bad == [], f"imports the rules of {room} don't allow: {bad}"


def test_only_the_front_ends_import_the_search_engine() -> None:
    importers = sorted(
        name
        for name in MODULES
        if ENGINE in GRAPH[name] and not name.startswith("search_app.retrieval")
    )
    bad = [name for name in importers if room_of(name) and not name.startswith(FRONT_ENDS)]
    assert bad == [], f"{ENGINE} imported by {bad}"


def test_only_eval_reaches_the_ranking_through_the_probe() -> None:
    importers = sorted(name for name in MODULES if PROBE in GRAPH[name])
    # the eval package and the benchmarks that replay its protocols (benchmarks/ is on no
    # package path: its modules are named by file)
    benchmarks = {path.stem for path in BENCHMARKS.glob("*.py")}
    allowed = [name for name in importers if name.startswith("search_eval") or name in benchmarks]
    assert allowed == importers, importers


def test_the_exercises_import_nothing_else_of_the_project() -> None:
    for name in MODULES:
        if name.startswith("exercises"):
            others = sorted(m for m in reachable(name) if not m.startswith("exercises"))
            assert others == [], f"{name} depends on {others}"


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
