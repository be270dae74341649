"""Search hits as a plain-text table for the terminal."""

from __future__ import annotations

import shutil
import textwrap

from search_app.records import SearchHit


def format_hits(hits: list[SearchHit]) -> str:
    """Return one block per GIF: rank, score, URL, best description, other descriptions."""
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 120))
    blocks = []
    for rank, hit in enumerate(hits, start=1):
        head = f"{rank:>2}. {hit.score:.3f}  {hit.url}"
        lines = [head, textwrap.indent(textwrap.fill(hit.description, width - 11), " " * 11)]
        lines += [
            textwrap.indent(textwrap.fill(f"+ {other}", width - 11), " " * 11)
            for other in hit.other_descriptions
        ]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)
