"""The `serve` command: the Gradio web UI over the persistent collection."""

from __future__ import annotations

import argparse
import os
import time

from search_app.errors import CollectionNotFoundError, ConfigError
from search_app.settings import Settings

AUTH_ENV_VAR = "GIFSEARCH_AUTH"
# The same defaults as search_app.web, repeated so that building the CLI parser (which
# every command does) never imports gradio.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def parse_auth(text: str) -> tuple[str, str]:
    """Split 'user:password' into its two parts; raise ConfigError when either is empty."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ConfigError("auth must look like user:password (both parts non-empty)")
    return user, password


def auth_arg(text: str) -> tuple[str, str]:
    """argparse type for --auth."""
    try:
        return parse_auth(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def port_arg(text: str) -> int:
    """argparse type for --port: 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range: use 1 to 65535")
    return port


def cmd_serve(args: argparse.Namespace) -> int:
    """Search the GIFs in your browser: a local web page over the collection.

    Binds 127.0.0.1 by default. Serving on another address needs --auth user:password
    (or GIFSEARCH_AUTH=user:password), or --insecure.

    Example: gifsearch serve --port 7860
    """
    from gifsearch.cli import notify, settings_from_args
    from search_app.search import SearchEngine
    from search_app.web import LaunchOptions, build_app, ingest_command, launch_app

    settings = settings_from_args(args)
    env_auth = os.environ.get(AUTH_ENV_VAR)
    auth = args.auth or (parse_auth(env_auth) if env_auth else None)
    # Gradio's file route must never hand out the index or the model cache.
    private_dirs = (str(settings.store_dir.resolve()), str(settings.cache_dir.resolve()))
    options = LaunchOptions(args.host, args.port, auth, args.insecure, private_dirs)
    fill = ingest_command(settings)
    check_collection(settings, fill)

    engine = SearchEngine.open(settings)
    if engine.embedder.notice:
        notify(engine.embedder.notice)
    app = build_app(engine, fill_command=fill)
    try:
        url = launch_app(app, options, prevent_thread_lock=True, quiet=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or 'port taken?'}); "
            "pick another with --port"
        ) from None
    stats = engine.stats()
    notify(
        f'serving "{stats.collection}" ({stats.gifs:,} GIFs, {engine.embedder.describe()}) '
        f"at {url} (Ctrl+C to stop)"
    )
    try:
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass  # Ctrl+C is how a server is meant to stop
    finally:
        app.close()
    notify("stopped")
    return 0


def check_collection(settings: Settings, fill: str) -> None:
    """Raise CollectionNotFoundError, naming the fill command, unless the collection has rows."""
    from search_app.settings import store_location
    from search_app.store import GifStore

    where = store_location(settings)
    missing = CollectionNotFoundError(
        f'no collection "{settings.collection}" in {where}; fill it first: {fill}'
    )
    if not settings.chroma_host and not settings.store_dir.exists():
        raise missing  # as SearchEngine.open: don't let Chroma create an empty store
    store = GifStore.open(settings)
    if store.binding() is None:
        raise missing
    if store.count() == 0:
        raise CollectionNotFoundError(
            f'collection "{settings.collection}" in {where} is empty; fill it first: {fill}'
        )


def add_serve_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `serve` subcommand."""
    from gifsearch.cli import add_store_options

    parser = commands.add_parser(
        "serve",
        help="search GIFs in the browser (Gradio web UI)",
        description=cmd_serve.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_options(parser)
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind ({DEFAULT_HOST})")
    parser.add_argument("--port", type=port_arg, default=DEFAULT_PORT, help=f"({DEFAULT_PORT})")
    parser.add_argument(
        "--auth",
        type=auth_arg,
        metavar="USER:PASSWORD",
        help=f"require this login (or set {AUTH_ENV_VAR})",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without --auth",
    )
    parser.set_defaults(func=cmd_serve)
    return parser
