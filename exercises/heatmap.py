"""Draw attention matrices as labelled heatmaps saved to PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from exercises.attention import SentenceAttention

MAX_ANNOTATED_WORDS = 16
TITLE_WIDTH_CHARS = 80
DPI = 120


def plot_heatmap(
    labels: Sequence[str], weights: np.ndarray, title: str, path: Path, highlight: int | None = None
) -> Path:
    """Save a square matrix as a heatmap: rows attend (query), columns are attended (key)."""
    size = len(labels)
    side = max(5.0, 0.55 * size + 2.5)
    figure = Figure(figsize=(side + 1.2, side), dpi=DPI)
    FigureCanvasAgg(figure)  # Agg renderer, no pyplot state: safe inside a web app
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=float(max(weights.max(), 1e-12)))
    axes.set_xticks(range(size), labels=labels, rotation=45, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(size), labels=labels)
    axes.set_xlabel("attended word (key)")
    axes.set_ylabel("attending word (query)")
    axes.set_title(title, fontsize=10)
    if highlight is not None:
        for tick in (axes.get_xticklabels()[highlight], axes.get_yticklabels()[highlight]):
            tick.set_fontweight("bold")
            tick.set_color("crimson")
    if size <= MAX_ANNOTATED_WORDS:
        middle = 0.5 * float(weights.max())
        for i in range(size):
            for j in range(size):
                value = float(weights[i, j])
                colour = "black" if value > middle else "white"
                axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label("attention weight (each row sums to 1)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def wrap_title(lines: Sequence[str]) -> str:
    """Wrap each title line to a readable width."""
    return "\n".join(textwrap.fill(line, TITLE_WIDTH_CHARS) for line in lines)


def plot_attention(sentence: SentenceAttention, path: Path, number: int | None = None) -> Path:
    """Heatmap of A = softmax(X X^T / sqrt(d)) over the sentence's word vectors."""
    prefix = f"Sentence {number}: " if number is not None else ""
    title = wrap_title(
        [
            f'{prefix}"{sentence.sentence}"',
            "A = softmax(XX^T/sqrt(d)), Q=K=V=X: contextual word vectors, no [CLS]/[SEP]",
        ]
    )
    weights = np.array(sentence.weights)
    return plot_heatmap(sentence.words, weights, title, path, highlight=sentence.focus_position)


def plot_head_attention(sentence: SentenceAttention, path: Path, number: int | None = None) -> Path:
    """Heatmap of the model's own head: piece rows averaged, piece columns summed."""
    view = sentence.head_view
    if view is None:
        raise ValueError(
            "this analysis has no head view; run analyze_sentences(include_heads=True)"
        )
    prefix = f"Sentence {number}: " if number is not None else ""
    title = wrap_title(
        [
            f'{prefix}"{sentence.sentence}"',
            f"model's own attention, layer {view.layer}, head {view.head} (0-based)",
        ]
    )
    weights = np.array(view.weights)
    return plot_heatmap(view.labels, weights, title, path, highlight=view.focus_position)
