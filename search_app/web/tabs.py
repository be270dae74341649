"""Extra tabs for the web app, described as data: fields, a button, outputs and a handler.

The edge that composes the page (gifsearch serve) builds these from other modules (the
exercises), and the web module renders them, so neither the search core nor the web
module imports what a tab shows. No gradio here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

MAX_FIELD_CHARS = 300  # a text field's cap unless it says otherwise


@dataclass(frozen=True)
class TextField:
    """A one-line text input; longer text is refused before the handler runs."""

    label: str
    value: str = ""
    max_chars: int = MAX_FIELD_CHARS
    scale: int = 1


@dataclass(frozen=True)
class NumberField:
    """A whole-number input between minimum and maximum."""

    label: str
    value: int
    minimum: int
    maximum: int


@dataclass(frozen=True)
class ImageOutput:
    """A picture the handler returns (a PIL image, or None)."""

    label: str


@dataclass(frozen=True)
class MarkdownOutput:
    """Markdown the handler returns; a panel's last output also shows its errors."""

    elem_id: str = ""


Field = TextField | NumberField
Output = ImageOutput | MarkdownOutput


@dataclass(frozen=True)
class Panel:
    """One exercise on a tab: a heading, rows of fields, a button, outputs and a handler.

    run takes the fields' values in order and returns one value per output; message
    turns an error into those values (shown in the last output).
    """

    heading: str
    rows: Sequence[Sequence[Field]]
    button: str
    button_id: str
    outputs: Sequence[Output]
    run: Callable[..., tuple[object, ...]]
    message: Callable[[str], tuple[object, ...]]

    @property
    def fields(self) -> list[Field]:
        """Every field, row by row."""
        return [item for row in self.rows for item in row]

    def refusal(self, values: Sequence[object]) -> str | None:
        """Return why these values are refused before running (a text over its cap), or None."""
        for item, value in zip(self.fields, values, strict=True):
            if isinstance(item, TextField) and isinstance(value, str):
                if len(value) > item.max_chars:
                    return f"keep “{item.label}” to {item.max_chars} characters"
            elif isinstance(item, TextField) and value is not None:
                return f"“{item.label}” must be text"
        return None


@dataclass(frozen=True)
class Tab:
    """A titled tab of panels."""

    title: str
    panels: Sequence[Panel] = field(default_factory=tuple)
