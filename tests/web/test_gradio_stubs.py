"""gradio's import without rewriting the type stubs its wheel ships (search_app/web/
gradio_stubs.py): the finder wraps the real gradio.component_meta, and the wrapper calls
gradio's writer only for a component that has no stub."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from search_app.web.gradio_stubs import has_stub, keep_shipped_stubs

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_web_app_wraps_gradios_stub_writer_and_gradio_still_builds_a_page() -> None:
    code = (
        "import search_app.web.app, gradio as gr, gradio.component_meta as meta\n"
        "print(meta.create_or_modify_pyi.__qualname__)\n"
        "with gr.Blocks() as page:\n"
        "    box = gr.Textbox(); box.submit(lambda text: text, box, box)\n"
        "print(len(page.fns))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["keep_shipped_stubs.<locals>.write_missing", "1"]


def load_component_module(folder: Path, with_stub: bool, monkeypatch: pytest.MonkeyPatch) -> type:
    """A module with a component-like class in a file of its own (a .pyi beside it or not)."""
    source = folder / "widget.py"
    source.write_text("class Widget:\n    pass\n")
    if with_stub:
        source.with_suffix(".pyi").write_text("class Widget: ...\n")
    spec = importlib.util.spec_from_file_location(f"widget_{with_stub}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # where inspect finds its file
    spec.loader.exec_module(module)
    return module.Widget


def test_gradios_writer_runs_only_for_a_component_without_a_stub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[type, str]] = []
    write = keep_shipped_stubs(lambda cls, name, events: calls.append((cls, name)))
    (tmp_path / "stub").mkdir()
    (tmp_path / "bare").mkdir()
    shipped = load_component_module(tmp_path / "stub", with_stub=True, monkeypatch=monkeypatch)
    bare = load_component_module(tmp_path / "bare", with_stub=False, monkeypatch=monkeypatch)
    assert has_stub(shipped) and not has_stub(bare)
    write(shipped, "Widget", [])
    write(bare, "Widget", [])
    assert calls == [(bare, "Widget")]
    assert not has_stub(int)  # a built-in has no source file: gradio's writer is called
