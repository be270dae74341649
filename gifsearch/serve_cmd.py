"""`gifsearch serve`: the Gradio web UI over the persistent collection.

This edge composes the page: the search app (search_app/web/app.py) plus the exercises' tab
(gifsearch/exercise_tab.py), so the search core never imports the teaching module.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gifsearch.console import notify
from gifsearch.flags import (
    Commands,
    add_command,
    add_setting_flags,
    from_args,
    settings_from_args,
)
from search_app.errors import CollectionNotFoundError, ConfigError
from search_app.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SettingGroup,
    Settings,
    port_problem,
    setting,
)
from search_app.small_files import read_small_text

if TYPE_CHECKING:
    from search_app.store.client import GifStore

MAX_AUTH_FILE_BYTES = 4_096
GROUPS = (SettingGroup.INDEX, SettingGroup.MODEL, SettingGroup.SERVE)


def parse_auth(text: str) -> tuple[str, str]:
    """Split 'user:password' into its two parts; raise ConfigError when either is empty."""
    user, sep, password = text.strip().partition(":")
    if not sep or not user or not password:
        raise ConfigError("auth must look like user:password (both parts non-empty)")
    return user, password


def _auth_problem(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        parse_auth(text)
    except ConfigError as exc:
        return f"is not accepted: {exc}"
    return None


HOST_NAME = re.compile(r"(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _hosts_problem(text: str | None) -> str | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not all(HOST_NAME.fullmatch(name) for name in names):
        return "is not a list of host names, e.g. gifs.example.org,*.example.org"
    return None


@dataclass(frozen=True)
class ServeSettings:
    """Where and how the web app listens (turned into search_app.web.app.LaunchOptions)."""

    host: str = setting(
        DEFAULT_HOST,
        help="address to bind; another than loopback needs a login or --insecure",
        env="GIFSEARCH_HOST",
        group=SettingGroup.SERVE,
    )
    port: int = setting(
        DEFAULT_PORT,
        help="port",
        env="GIFSEARCH_PORT",
        group=SettingGroup.SERVE,
        check=port_problem,
    )
    auth: str | None = setting(
        None,
        help="require this login, user:password (environment only: a flag would show the "
        "password in `ps`)",
        env="GIFSEARCH_AUTH",
        group=SettingGroup.SERVE,
        env_only=True,
        label="GIFSEARCH_AUTH",
        check=_auth_problem,
    )
    auth_file: Path | None = setting(
        None,
        help="read the login, user:password, from this file's first line",
        env="GIFSEARCH_AUTH_FILE",
        group=SettingGroup.SERVE,
        metavar="FILE",
    )
    insecure: bool = setting(
        False,
        help="allow a non-loopback host without a login and API keys",
        env="GIFSEARCH_INSECURE",
        group=SettingGroup.SERVE,
    )
    api_keys: str | None = setting(
        None,
        help="API keys a client must send (comma-separated; environment only, like the login)",
        env="GIFSEARCH_API_KEYS",
        group=SettingGroup.SERVE,
        env_only=True,
        label="GIFSEARCH_API_KEYS",
    )
    api_keys_file: Path | None = setting(
        None,
        help="read API keys from this file, one per line ('#' comments)",
        env="GIFSEARCH_API_KEYS_FILE",
        group=SettingGroup.SERVE,
        metavar="FILE",
    )
    mcp: bool = setting(
        False,
        help="also serve a tool for assistants (MCP, streamable HTTP) at /mcp, behind the API keys",
        env="GIFSEARCH_MCP",
        group=SettingGroup.SERVE,
    )
    allowed_hosts: str | None = setting(
        None,
        help="public names the server answers to, comma-separated, besides loopback and "
        "--host (a Host allow-list against DNS rebinding)",
        env="GIFSEARCH_ALLOWED_HOSTS",
        group=SettingGroup.SERVE,
        metavar="NAMES",
        check=_hosts_problem,
    )

    def __repr__(self) -> str:  # never print the password or a key
        return f"ServeSettings(host={self.host!r}, port={self.port}, insecure={self.insecure})"

    def __post_init__(self) -> None:
        from search_app.settings import validate

        validate(self)

    @property
    def extra_hosts(self) -> tuple[str, ...]:
        """The public host names given, besides loopback and --host."""
        text = self.allowed_hosts or ""
        return tuple(name.strip() for name in text.split(",") if name.strip())

    @property
    def login(self) -> tuple[str, str] | None:
        """The (user, password) to require (GIFSEARCH_AUTH wins over the file), or None."""
        if self.auth:
            return parse_auth(self.auth)
        if self.auth_file is None:
            return None
        return parse_auth(read_auth_file(self.auth_file))


def read_auth_file(path: Path) -> str:
    """Return the first line of a small regular file holding user:password."""
    lines = read_small_text(path, "auth file", MAX_AUTH_FILE_BYTES).splitlines()
    if not lines:
        raise ConfigError(f"auth file {path} is empty: write user:password on its first line")
    return lines[0]


def cmd_serve(args: argparse.Namespace) -> int:
    """Search the GIFs in your browser: a local web page over the collection.

    Serves the page and, on the same port, the JSON API (/api/, its OpenAPI document at
    /api/openapi.json) and the GIPHY (/v1/) and Tenor (/v2/) dialects, so other apps can
    search your GIFs. Binds 127.0.0.1 by default. Serving on another address needs a
    login, user:password, from --auth-file FILE or the variable GIFSEARCH_AUTH, and API
    keys from --api-keys-file FILE or GIFSEARCH_API_KEYS (never flags of their own: `ps`
    would show them), or --insecure.

    Example: gifsearch serve --port 7860
    """
    from gifsearch.exercise_tab import exercises_tab
    from search_app.retrieval.engine import SearchEngine
    from search_app.web.api.keys import load_keys
    from search_app.web.app import LaunchOptions, build_app, ingest_command, launch_app

    settings = settings_from_args(args)
    serve = from_args(ServeSettings, args)
    # Gradio's file route must never hand out the index or the model cache.
    private_dirs = (str(settings.store_dir.resolve()), str(settings.cache_dir.resolve()))
    keys = load_keys(serve.api_keys, serve.api_keys_file)
    options = LaunchOptions(
        serve.host,
        serve.port,
        serve.login,
        serve.insecure,
        private_dirs,
        api_keys=keys,
        extra_hosts=serve.extra_hosts,
        mcp=serve.mcp,
    )
    fill = ingest_command(settings)
    engine = SearchEngine.open(settings, store=check_collection(settings, fill))
    if engine.embedder.notice:
        notify(engine.embedder.notice)
    options = replace(options, uploads=engine.supports_images)  # the image box uploads
    app = build_app(engine, fill_command=fill, extra_tabs=[exercises_tab()])
    server = launch_app(app, options, engine, on_error=notify)
    stats = engine.stats(wait=False)  # the GIFs are counted in the background
    rows = f"{stats.descriptions + stats.frames:,} rows"
    size = rows if stats.gifs is None else f"{stats.gifs:,} GIFs, {rows}"
    keyed = f", API keys: {len(keys.keys)}" if keys.required else ""
    notify(
        f'serving "{stats.collection}" ({size}, {engine.embedder.describe()}) '
        f"at {server.url}/ (API: {server.url}/api/, /v1/, /v2/{'; MCP: /mcp' if serve.mcp else ''}"
        f"{keyed}; Ctrl+C to stop)"
    )
    try:
        while server.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass  # Ctrl+C is how a server is meant to stop
    finally:
        server.close()
    notify("stopped")
    return 0


def check_collection(settings: Settings, fill: str) -> GifStore:
    """Return the store opened, or raise CollectionNotFoundError naming the fill command
    unless the collection has rows."""
    from search_app.settings import store_location
    from search_app.store.client import GifStore

    where = store_location(settings)
    missing = CollectionNotFoundError(
        f'no collection "{settings.collection}" in {where}; fill it first: {fill}'
    )
    try:
        store = GifStore(settings)  # a reader: never makes an empty store
    except CollectionNotFoundError:
        raise missing from None
    if store.binding() is None:
        raise missing
    if store.count() == 0:
        raise CollectionNotFoundError(
            f'collection "{settings.collection}" in {where} is empty; fill it first: {fill}'
        )
    return store


def add_serve_parser(commands: Commands) -> None:
    """Register the `serve` subcommand."""
    parser = add_command(
        commands,
        "serve",
        cmd_serve,
        "search GIFs in the browser (Gradio web UI)",
        GROUPS,
        (Settings, ServeSettings),
    )
    add_setting_flags(parser, GROUPS[2:], ServeSettings)
    add_setting_flags(parser, GROUPS[:2])
