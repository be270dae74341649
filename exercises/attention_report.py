"""Write an attention analysis out: terminal text, a Markdown page and PNG heatmaps."""

from __future__ import annotations

from pathlib import Path

from exercises.attention import AttentionReport, SentenceAttention
from exercises.heatmap import plot_attention, plot_head_attention

ATTENTION_MARKDOWN_NAME = "attention.md"
WEIGHT_DIGITS = 6


def name_attention_images(number: int) -> tuple[str, str]:
    """File names for sentence `number`: its attention heatmap and its model-head heatmap."""
    return f"attention_{number}.png", f"attention_heads_{number}.png"


def describe_method(report: AttentionReport) -> list[str]:
    """The formulas and choices, one sentence per line."""
    dimension = len(report.sentences[0].focus_vector) if report.sentences else 0
    return [
        f"Model: {report.model_name}; token vectors have d = {dimension} dimensions.",
        "X = the model's contextual token embeddings (its last layer), word pieces averaged "
        "into one vector per word.",
        "Q = K = V = X (no learned projections), A = softmax(Q K^T / sqrt(d)) row by row, "
        "context C = A V.",
        "[CLS] and [SEP] are dropped from the word-level view: they are not words and would "
        "dominate the rows.",
        f'"{report.focus_word}" alone = the word encoded as a one-word input, its piece vectors '
        f"averaged ({' + '.join(report.word_alone_pieces)}), [CLS]/[SEP] dropped.",
    ]


def describe_pieces(sentence: SentenceAttention) -> str:
    """List the words the tokenizer split, e.g. "unbelievably = un + ##bel + ##ie"."""
    splits = [
        f"{word} = {' + '.join(pieces)}"
        for word, pieces in zip(sentence.words, sentence.word_pieces, strict=True)
        if len(pieces) > 1
    ]
    return "; ".join(splits) if splits else "none"


def format_attention_text(report: AttentionReport) -> str:
    """Render the analysis for a terminal: per sentence the focus word's weights, then cosines."""
    word = report.focus_word
    lines = ["Self-attention over contextual word vectors", ""]
    lines += [f"  {line}" for line in describe_method(report)]
    for number, sentence in enumerate(report.sentences, start=1):
        focus = sentence.words[sentence.focus_position]
        lines += ["", f'Sentence {number}: "{sentence.sentence}"']
        lines += [f"  words: {' | '.join(sentence.words)}"]
        lines += [f"  words split into pieces: {describe_pieces(sentence)}"]
        lines += [
            f'  "{focus}" (word {sentence.focus_position + 1}) attends to itself with weight '
            f"{sentence.self_weight:.{WEIGHT_DIGITS}f}",
            f"  top {len(sentence.top_words)} other words it attends to:",
        ]
        width = max(len(item.word) for item in sentence.top_words)
        lines += [
            f"    {rank}. {item.word.ljust(width)}  {item.weight:.{WEIGHT_DIGITS}f}"
            for rank, item in enumerate(sentence.top_words, start=1)
        ]
        lines += [
            f'  cos("{word}" here, "{word}" alone) = '
            f"{sentence.cosine_to_word_alone:.{WEIGHT_DIGITS}f}"
        ]
    if report.cosines:
        lines += ["", f'Cosine similarity between the contextual "{word}" vectors:']
        lines += [
            f"  sentence {pair.first} vs sentence {pair.second}: {pair.cosine:.{WEIGHT_DIGITS}f}"
            for pair in report.cosines
        ]
    return "\n".join(lines) + "\n"


def format_weights_table(
    labels: tuple[str, ...], weights: tuple[tuple[float, ...], ...]
) -> list[str]:
    """A Markdown table: one row per attending word, one column per attended word."""
    escaped = [label.replace("|", "\\|") for label in labels]
    lines = ["| query \\ key | " + " | ".join(escaped) + " |"]
    lines.append("|---|" + "---:|" * len(labels))
    for label, row in zip(escaped, weights, strict=True):
        lines.append(f"| **{label}** | " + " | ".join(f"{v:.{WEIGHT_DIGITS}f}" for v in row) + " |")
    return lines


def format_attention_markdown(report: AttentionReport, with_images: bool = True) -> str:
    """Render the analysis as Markdown, linking the PNGs named by name_attention_images."""
    word = report.focus_word
    lines = [f'# Self-attention and the word "{word}"', ""]
    lines += [f"- {line}" for line in describe_method(report)]
    for number, sentence in enumerate(report.sentences, start=1):
        focus = sentence.words[sentence.focus_position]
        lines += ["", f'## Sentence {number}: "{sentence.sentence}"', ""]
        lines += [
            f"Word pieces: `{' '.join(sentence.tokens)}`; split words: {describe_pieces(sentence)}."
        ]
        lines += [
            "",
            f'"{focus}" (word {sentence.focus_position + 1}) attends to itself with weight '
            f"{sentence.self_weight:.{WEIGHT_DIGITS}f}. "
            "The words it attends to most besides itself:",
            "",
            "| rank | word | position | weight |",
            "|---:|---|---:|---:|",
        ]
        lines += [
            f"| {rank} | {item.word} | {item.position + 1} | {item.weight:.{WEIGHT_DIGITS}f} |"
            for rank, item in enumerate(sentence.top_words, start=1)
        ]
        cosine = f"{sentence.cosine_to_word_alone:.{WEIGHT_DIGITS}f}"
        lines += [
            "",
            f'cos("{word}" here, "{word}" alone) = {cosine}',
            "",
            "Attention weights A (rows sum to 1):",
            "",
            *format_weights_table(sentence.words, sentence.weights),
        ]
        attention_png, heads_png = name_attention_images(number)
        if with_images:
            lines += ["", f"![attention, sentence {number}]({attention_png})"]
        if sentence.head_view is not None:
            view = sentence.head_view
            lines += [
                "",
                f"The model's own attention, layer {view.layer}, head {view.head} (0-based; "
                "rows: word pieces averaged, columns: word pieces summed; [CLS]/[SEP] kept, so "
                "rows sum to 1):",
                "",
                *format_weights_table(view.labels, view.weights),
            ]
            if with_images:
                lines += ["", f"![model attention head, sentence {number}]({heads_png})"]
    if report.cosines:
        lines += ["", f'## Cosine similarity between the contextual "{word}" vectors', ""]
        lines += ["| sentences | cosine |", "|---|---:|"]
        lines += [
            f"| {pair.first} vs {pair.second} | {pair.cosine:.{WEIGHT_DIGITS}f} |"
            for pair in report.cosines
        ]
    return "\n".join(lines) + "\n"


def write_attention_files(report: AttentionReport, out_dir: Path) -> tuple[Path, ...]:
    """Write attention.md and each sentence's PNG heatmaps into out_dir; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, sentence in enumerate(report.sentences, start=1):
        attention_png, heads_png = name_attention_images(number)
        paths.append(plot_attention(sentence, out_dir / attention_png, number))
        if sentence.head_view is not None:
            paths.append(plot_head_attention(sentence, out_dir / heads_png, number))
    markdown = out_dir / ATTENTION_MARKDOWN_NAME
    markdown.write_text(format_attention_markdown(report), encoding="utf-8")
    return (markdown, *paths)
