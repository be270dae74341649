"""Command line for the exercises: `python -m exercises sgd|attention`."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from exercises.errors import ExerciseError
from exercises.sgd import run_sgd
from exercises.sgd_config import DEFAULT_SGD_CONFIG, build_sgd_config
from exercises.sgd_report import format_number, format_sgd_text, write_sgd_markdown

# The parser class the caller's subparsers make (gifsearch's own, or argparse's).
Parser = TypeVar("Parser", bound=argparse.ArgumentParser)

DEFAULT_OUT_DIR = Path("exercises_out")

SGD_HELP = """Walk through plain SGD on one sigmoid neuron, one example per step.

Prints every step (weighted sum, prediction, binary cross-entropy loss, chain-rule gradients,
updates) to stdout and writes the same with more digits to OUT/sgd.md.

example: python -m exercises sgd --lr 0.1 --weights=0.5,-0.3 --bias 0.1 \\
           --examples '[{"x": [1.0, 0.5], "y": 1}, {"x": [-1.0, 1.5], "y": 0}]'
(write --weights=-0.5,0.3 with "=" when the first weight is negative)"""

ATTENTION_HELP = """Show scaled dot-product self-attention over SBERT contextual word vectors.

For each sentence prints the words the focus word attends to most and the cosine between its
contextual vectors, writes OUT/attention.md and heatmaps OUT/attention_N.png (plus the
model's own head as OUT/attention_heads_N.png).

example: python -m exercises attention --sentence "She saw a bat flying in the night sky" \\
           --sentence "He used a bat to hit the baseball" --word bat --layer 5 --head 0"""


def print_notice(message: str) -> None:
    """Write a progress or notice line to stderr."""
    print(message, file=sys.stderr)


def report_errors(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Wrap a command so expected failures print one line to stderr and return exit code 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ExerciseError as exc:
            print_notice(f"error: {exc}")
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            print_notice(f"error: cannot write{where}: {exc.strerror or exc}; check --out")
        return 1

    return run


@report_errors
def run_sgd_command(args: argparse.Namespace) -> int:
    """Run the SGD exercise from parsed arguments; print the table, write sgd.md."""
    config = build_sgd_config(
        lr=args.lr,
        weights=args.weights,
        bias=args.bias,
        examples=args.examples,
        config_path=args.config,
        epochs=args.epochs,
    )
    steps = run_sgd(config)
    sys.stdout.write(format_sgd_text(steps))
    path = write_sgd_markdown(steps, args.out)
    print_notice(f"wrote {path}")
    return 0


@report_errors
def run_attention_command(args: argparse.Namespace) -> int:
    """Run the attention exercise from parsed arguments; print results, write Markdown + PNGs."""
    # Imported here so `sgd` (and a host CLI registering these parsers) never pays for
    # matplotlib or the model libraries.
    from exercises.attention import DEFAULT_SENTENCES, analyze_sentences
    from exercises.attention_report import format_attention_text, write_attention_files
    from exercises.encoder import BUNDLED_MODEL_NAME, load_model

    sentences = args.sentence or list(DEFAULT_SENTENCES)
    model_name = args.model or BUNDLED_MODEL_NAME
    print_notice(f"loading model {model_name} ...")
    model = load_model(args.model)
    print_notice(
        "word pieces are averaged into words; [CLS]/[SEP] are dropped from the word-level view"
    )
    report = analyze_sentences(
        sentences,
        args.word,
        model,
        top_k=args.top_k,
        layer=args.layer,
        head=args.head,
        include_heads=not args.no_heads,
        model_name=model_name,
    )
    sys.stdout.write(format_attention_text(report))
    for path in write_attention_files(report, args.out):
        print_notice(f"wrote {path}")
    return 0


def add_sgd_parser(
    subparsers: argparse._SubParsersAction[Parser],
) -> Parser:
    """Register the `sgd` subcommand."""
    parser = subparsers.add_parser(
        "sgd",
        allow_abbrev=False,
        help="gradient descent by hand on one neuron",
        description=SGD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    default = DEFAULT_SGD_CONFIG
    default_weights = ",".join(format_number(w, 6) for w in default.weights)
    # Values stay text here and are checked by the library, so a bad number gets the same
    # one-line error from a flag as from a config file.
    parser.add_argument(
        "--lr", metavar="RATE", help=f"learning rate > 0 (default {default.learning_rate})"
    )
    parser.add_argument(
        "--weights", metavar="W1,W2,...", help=f"initial weights (default {default_weights})"
    )
    parser.add_argument("--bias", metavar="B", help=f"initial bias (default {default.bias})")
    parser.add_argument(
        "--examples",
        metavar="JSON",
        help='examples as JSON: [{"x": [1.0, 0.5], "y": 1}, ...]; labels y in [0, 1]',
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON file with any of lr, weights, bias, examples, epochs (flags override it)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"passes over the examples (default {default.epochs})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="folder for sgd.md (default exercises_out/)",
    )
    parser.set_defaults(func=run_sgd_command)
    return parser


def add_attention_parser(
    subparsers: argparse._SubParsersAction[Parser],
) -> Parser:
    """Register the `attention` subcommand."""
    from exercises.attention import DEFAULT_FOCUS_WORD, DEFAULT_HEAD, DEFAULT_TOP_K

    parser = subparsers.add_parser(
        "attention",
        allow_abbrev=False,
        help="self-attention over SBERT token embeddings, with heatmaps",
        description=ATTENTION_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sentence",
        action="append",
        metavar="TEXT",
        help="a sentence to analyse; repeat for more (default: the two 'bat' sentences)",
    )
    parser.add_argument(
        "--word", default=DEFAULT_FOCUS_WORD, help=f"focus word (default {DEFAULT_FOCUS_WORD})"
    )
    parser.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="sentence-transformers model name or path (default: bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument("--layer", type=int, help="0-based layer for the head view (default last)")
    parser.add_argument(
        "--head", type=int, default=DEFAULT_HEAD, help=f"0-based head (default {DEFAULT_HEAD})"
    )
    parser.add_argument("--no-heads", action="store_true", help="skip the model's own head view")
    parser.add_argument(
        "--top-k", type=int, default=DEFAULT_TOP_K, help=f"words to list (default {DEFAULT_TOP_K})"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="folder for attention.md and PNGs (default exercises_out/)",
    )
    parser.set_defaults(func=run_attention_command)
    return parser


def add_exercise_parsers(subparsers: argparse._SubParsersAction[Parser]) -> None:
    """Register the `sgd` and `attention` subcommands; each sets func(args) -> exit code."""
    add_sgd_parser(subparsers)
    add_attention_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m exercises` parser."""
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m exercises",
        description="Teaching exercises: SGD by hand and attention.",
    )
    add_exercise_parsers(parser.add_subparsers(dest="command", required=True, metavar="EXERCISE"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse argv and run the chosen exercise; 0 on success, 1 on errors, 2 on bad flags."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad flags and 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    run: Callable[[argparse.Namespace], int] = args.func  # set by each subcommand's parser
    return run(args)
