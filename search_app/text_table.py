"""Search hits as a plain-text table for the terminal."""

from __future__ import annotations

import re
import shutil
import textwrap

from search_app.records import SearchHit

# C0 and C1 controls and DEL: a terminal acts on them (clear the screen, set the title).
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Return text with every control character shown as an escape (\\x1b), so printing
    stored data never drives the terminal, and a line stays one line."""
    return CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_hits(hits: list[SearchHit]) -> str:
    """Return one block per GIF: rank, score, URL, best description, other descriptions."""
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 120))
    blocks = []
    for rank, hit in enumerate(hits, start=1):
        head = f"{rank:>2}. {hit.score:.3f}  {printable(hit.url)}"
        text = printable(hit.description)
        lines = [head, textwrap.indent(textwrap.fill(text, width - 11), " " * 11)]
        lines += [
            textwrap.indent(textwrap.fill(f"+ {printable(other)}", width - 11), " " * 11)
            for other in hit.other_descriptions
        ]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
