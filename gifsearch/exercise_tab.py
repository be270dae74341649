"""The Exercises tab of the web app: the teaching exercises as a search_app.web.tabs.Tab.

Lives at the edge so that the web app never imports the exercises (they stay standalone)
and the exercises never import the web app.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from search_app.web.tabs import ImageOutput, MarkdownOutput, NumberField, Panel, Tab, TextField

SGD_DIGITS = 6  # the terminal's precision: a table that fits the page
MAX_SGD_STEPS = 200  # the page stays readable and a request stays cheap
MAX_SENTENCE_CHARS = 300
MAX_WORD_CHARS = 40
MAX_NUMBERS_CHARS = 200
MAX_EXAMPLES_CHARS = 2_000

AttentionOutputs = tuple[Image.Image | None, Image.Image | None, str]


def exercise_error(message: str) -> str:
    """Return an exercise's one-line error as escaped Markdown."""
    return f"**Could not run the exercise:** {escape(message)}"


class ExerciseHandlers:
    """The exercises tab's handlers; the SBERT model is loaded on first use."""

    def __init__(self, load_model: Callable[[], Any] | None = None) -> None:
        self._load_model = load_model
        self._model: Any = None
        self._lock = threading.Lock()

    def model(self) -> Any:
        """Return the exercises' SBERT model, loading it once."""
        with self._lock:
            if self._model is None:
                from exercises.encoder import load_model

                self._model = (self._load_model or load_model)()
            return self._model

    def handle_attention(self, first: str, second: str, word: str) -> AttentionOutputs:
        """Return both sentences' attention heatmaps and the focus word's numbers."""
        from exercises.attention import analyze_sentences
        from exercises.attention_report import format_attention_text
        from exercises.errors import ExerciseError
        from exercises.heatmap import plot_attention

        try:
            report = analyze_sentences([first, second], word, self.model(), include_heads=False)
        except ExerciseError as exc:
            return None, None, exercise_error(str(exc))
        images = []
        with tempfile.TemporaryDirectory(prefix="gifsearch-attention-") as folder:
            for number, sentence in enumerate(report.sentences, start=1):
                path = plot_attention(sentence, Path(folder) / f"attention_{number}.png", number)
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
        return images[0], images[1], f"<pre>{escape(format_attention_text(report))}</pre>"

    def handle_sgd(
        self, lr: str, weights: str, bias: str, examples: str, epochs: float | None
    ) -> str:
        """Return the SGD walk-through as Markdown for the chosen settings."""
        from exercises.errors import ExerciseError
        from exercises.sgd import run_sgd
        from exercises.sgd_config import build_sgd_config
        from exercises.sgd_report import format_sgd_markdown

        try:
            config = build_sgd_config(
                lr=lr,
                weights=weights,
                bias=bias,
                examples=examples,
                epochs=None if epochs is None else int(epochs),
            )
        except ExerciseError as exc:
            return exercise_error(str(exc))
        if len(config.examples) * config.epochs > MAX_SGD_STEPS:
            return exercise_error(f"examples x epochs must be {MAX_SGD_STEPS} steps or fewer")
        return format_sgd_markdown(run_sgd(config), digits=SGD_DIGITS)


def exercises_tab(handlers: ExerciseHandlers | None = None) -> Tab:
    """Return the Exercises tab: attention over two sentences, and SGD by hand."""
    from exercises.attention import DEFAULT_FOCUS_WORD, DEFAULT_SENTENCES
    from exercises.sgd_config import DEFAULT_SGD_CONFIG as SGD

    handlers = handlers or ExerciseHandlers()
    examples_json = json.dumps([{"x": list(e.features), "y": e.label} for e in SGD.examples])
    attention = Panel(
        heading="Self-attention: one word in two sentences",
        rows=[
            [
                TextField("Sentence 1", DEFAULT_SENTENCES[0], MAX_SENTENCE_CHARS, scale=3),
                TextField("Sentence 2", DEFAULT_SENTENCES[1], MAX_SENTENCE_CHARS, scale=3),
                TextField("Focus word", DEFAULT_FOCUS_WORD, MAX_WORD_CHARS),
            ]
        ],
        button="Show attention",
        button_id="ex-attention",
        outputs=[
            ImageOutput("Sentence 1"),
            ImageOutput("Sentence 2"),
            MarkdownOutput("ex-attention-numbers"),
        ],
        run=handlers.handle_attention,
        message=lambda text: (None, None, exercise_error(text)),
    )
    sgd = Panel(
        heading="Gradient descent by hand: one sigmoid neuron",
        rows=[
            [
                TextField("Learning rate", f"{SGD.learning_rate:g}", MAX_NUMBERS_CHARS),
                TextField(
                    "Weights w1,w2,...", ",".join(f"{w:g}" for w in SGD.weights), MAX_NUMBERS_CHARS
                ),
                TextField("Bias b", f"{SGD.bias:g}", MAX_NUMBERS_CHARS),
                NumberField("Epochs", SGD.epochs, 1, 20),
            ],
            [TextField("Examples (JSON)", examples_json, MAX_EXAMPLES_CHARS)],
        ],
        button="Run SGD",
        button_id="ex-sgd",
        outputs=[MarkdownOutput("ex-sgd-table")],
        run=lambda lr, weights, bias, epochs, examples: (
            handlers.handle_sgd(lr, weights, bias, examples, epochs),
        ),
        message=lambda text: (exercise_error(text),),
    )
    return Tab("Exercises", [attention, sgd])
