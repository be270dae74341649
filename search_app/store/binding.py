"""The model a collection's vectors came from: recorded in the collection's metadata, and
checked whenever the collection is written to or searched."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search_app.errors import ModelMismatchError


@dataclass(frozen=True)
class ModelBinding:
    """The model a collection's vectors came from, recorded in the collection's metadata."""

    model_name: str
    model: str
    dimension: int
    normalized: bool = True
    images: bool | None = None  # whether the model embeds images; None: not recorded

    def to_metadata(self) -> dict[str, object]:
        """Return the binding as collection metadata."""
        meta: dict[str, object] = {
            "model_name": self.model_name,
            "model": self.model,
            "dimension": self.dimension,
            "normalized": self.normalized,
        }
        if self.images is not None:
            meta["images"] = self.images
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> ModelBinding | None:
        """Return the binding recorded in collection metadata, or None when there is none."""
        if "model_name" not in meta:
            return None
        images = meta.get("images")
        return cls(
            model_name=str(meta["model_name"]),
            model=str(meta.get("model", meta["model_name"])),
            dimension=int(meta["dimension"]),
            normalized=bool(meta.get("normalized", True)),
            images=None if images is None else bool(images),
        )


def check_binding(
    existing: ModelBinding, model_name: str, dimension: int | None, collection_name: str
) -> None:
    """Raise ModelMismatchError when a model other than the bound one is used (dimension
    None: the asked model's is not known yet, as before it loads; only names compare)."""
    if existing.model_name != model_name or dimension not in (None, existing.dimension):
        asked = model_name if dimension is None else f"{model_name} ({dimension}-d)"
        raise ModelMismatchError(
            f'collection "{collection_name}" was built with {existing.model_name} '
            f"({existing.dimension}-d), not {asked}; "
            f"use --model {existing.model} or another --collection"
        )
