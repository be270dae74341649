"""Gradio's import without its stub rewrite.

At every import gradio re-derives each component's type stub (.pyi) from its source (for
each component class, gradio/component_meta.py's create_or_modify_pyi reads the module,
parses it with ast and compares): 1.1 s of a 2.8 s `import gradio` here, on every
`gifsearch serve` start. Its wheel ships those stubs (they are in its RECORD), so there is
nothing to write. The finder below wraps that one function as gradio.component_meta loads:
a component whose stub file exists is left alone, one without gets gradio's own call. If a
gradio release renames the function, nothing is changed (the import is slower, that's all).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

MODULE = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def has_stub(component_class: type) -> bool:
    """Whether the component's module has its .pyi beside it (as gradio's wheel ships)."""
    try:
        return Path(inspect.getfile(component_class)).with_suffix(".pyi").is_file()
    except (OSError, TypeError):
        return False


def keep_shipped_stubs(original: Callable[..., None]) -> Callable[..., None]:
    """gradio's stub writer, called only for a component that has no stub file."""

    def write_missing(component_class: type, *args: Any, **kwargs: Any) -> None:
        if not has_stub(component_class):
            original(component_class, *args, **kwargs)

    return write_missing


class StubRewriteSkipper(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta as usual, then wraps its stub writer once it has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)  # once: the module is imported once
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            original = getattr(module, FUNCTION, None)
            if callable(original):
                setattr(module, FUNCTION, keep_shipped_stubs(original))

        loader.exec_module = exec_module  # type: ignore[method-assign]  # this module's loader only
        return spec


def skip_stub_rewrite() -> None:
    """Install the finder, unless gradio's component_meta is loaded already (or is being)."""
    if MODULE in sys.modules or any(isinstance(f, StubRewriteSkipper) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, StubRewriteSkipper())
