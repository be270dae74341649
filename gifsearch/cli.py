"""gifsearch: semantic search over animated GIFs by what happens in them.

Results go to stdout; progress and notices go to stderr, so output pipes cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from gifsearch.bench_cmd import add_bench_parser
from gifsearch.console import PROG, report_error
from gifsearch.eval_cmd import add_eval_parser
from gifsearch.flags import OneLineParser, environment_epilog
from gifsearch.ingest_cmd import add_ingest_parser
from gifsearch.links_cmd import add_links_parser
from gifsearch.search_cmd import COMMAND as SEARCH_COMMAND
from gifsearch.search_cmd import add_search_parser, keep_minus_words
from gifsearch.serve_cmd import ServeSettings, add_serve_parser
from gifsearch.usage_cmd import add_usage_parser
from search_app.errors import GifSearchError
from search_app.settings import Settings

MAX_SHOWN_CHARS = 40  # of an unknown option, in the error


def build_parser() -> argparse.ArgumentParser:
    """Return the gifsearch argument parser with every subcommand."""
    parser = OneLineParser(
        prog=PROG,
        allow_abbrev=False,
        description=__doc__.splitlines()[0],
        epilog=environment_epilog(classes=(Settings, ServeSettings)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in (
        add_ingest_parser,
        add_links_parser,
        add_search_parser,
        add_serve_parser,
        add_usage_parser,
        add_eval_parser,
        add_bench_parser,
    ):
        add_parser(commands)
    from exercises.cli import add_exercise_parsers

    exercises = commands.add_parser(
        "exercises", help="teaching exercises: sgd, attention", allow_abbrev=False
    )
    add_exercise_parsers(
        exercises.add_subparsers(dest="exercise", metavar="EXERCISE", required=True)
    )
    return parser


INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports it
AGAIN_MESSAGE = f"{PROG}: interrupted again: stopped at once\n".encode()


def make_second_interrupt_end_at_once() -> None:
    """From now on, a first Ctrl+C raises KeyboardInterrupt as usual (the command stops
    its work and cleans up: downloads cut, the writer lock released), and a second one,
    should that cleanup (or the interpreter's exit) take long, ends the process at once
    (the kernel still releases the lock). Left in place: the process is ending anyway."""
    interrupted = False

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        if interrupted:
            os.write(sys.stderr.fileno(), AGAIN_MESSAGE)
            os._exit(INTERRUPTED_EXIT)
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; expected failures print one line and exit 1, bad flags exit 2.

    Run as a program (argv None), a second Ctrl+C ends it at once; a caller that passes
    argv (a test, a script) keeps its own Ctrl+C handling.
    """
    if argv is None and threading.current_thread() is threading.main_thread():
        make_second_interrupt_end_at_once()
        code = run(argv)
        end_program(code)
        return code
    return run(argv)


def end_program(code: int) -> None:
    """End a program whose command has returned code, skipping the interpreter's teardown
    when a daemon thread still runs: `serve` stopped by Ctrl+C while its catalog or its
    categories were being read in the background (3 s at 125,000 rows, 34 s at a million)
    crashed with SIGSEGV (exit 139) after printing "stopped", the thread inside Chroma's
    native code as the interpreter tore down. The exit handlers still run (child
    processes stopped, temporary folders removed), the output is flushed; then the process
    ends with code. With no daemon thread alive this returns, and the usual exit follows."""
    if not any(t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    import atexit

    atexit._run_exitfuncs()  # noqa: SLF001  # what sys.exit would run first, in its order
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def with_minus_words(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> list[str]:
    """Return argv (None: the command line) with the search query's -words kept as words
    (search_cmd.keep_minus_words): `gifsearch search -ball a dog` is a query."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((n for n, arg in enumerate(args) if not arg.startswith("-")), None)
    if command is None or args[command] != SEARCH_COMMAND:
        return args
    search = subcommand(parser, SEARCH_COMMAND)
    return [*args[: command + 1], *keep_minus_words(args[command + 1 :], search)]


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """Return the parser of one of parser's subcommands."""
    for action in parser._actions:  # argparse keeps no public list of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def run(argv: Sequence[str] | None) -> int:
    """Parse argv (None: the command line) and run its command."""
    parser = build_parser()
    args, rest = parser.parse_known_args(with_minus_words(parser, argv))
    if rest and not getattr(args, "passes_args_on", False):
        # Name the unknown options only: a value may be a secret (a password, say).
        names = [arg.split("=", 1)[0][:MAX_SHOWN_CHARS] for arg in rest if arg.startswith("-")]
        parser.error(f"unrecognized arguments: {' '.join(names) or '(extra values)'}")
    args.rest = rest
    try:
        return int(args.func(args))
    except GifSearchError as exc:
        report_error(str(exc))
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except BrokenPipeError:  # the reader of the results left (| head): nothing to say
        with contextlib.suppress(OSError, ValueError):  # so the exit's flush can't fail
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
