"""Flags: the argparse options made from the settings' declarations (search_app/settings.py),
the options several commands share, and the README's table of settings."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias

from ingest.reader import DEFAULT_LIMIT_ROWS
from search_app.errors import ConfigError
from search_app.settings import (
    Number,
    SettingGroup,
    SettingInfo,
    Settings,
    SettingsT,
    build_from,
    declared,
    default_of,
    field_type,
    flag_of,
    parse_number,
    parse_text,
    shorten,
)

SERVER_PREFIX = "chroma_"  # these settings get their own help section


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line naming where help is (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# The CLI's subcommands: made by a OneLineParser, so each subcommand's parser is one too.
Commands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"


def add_command(
    commands: Commands,
    name: str,
    func: Callable[[argparse.Namespace], int],
    summary: str,
    groups: Sequence[SettingGroup] = (),
    classes: Sequence[type] = (Settings,),
) -> argparse.ArgumentParser:
    """Register a subcommand: its --help is func's docstring, its epilog the variables of
    its settings groups; abbreviated flags are refused (--auth must not mean --auth-file)."""
    parser = commands.add_parser(
        name,
        allow_abbrev=False,
        help=summary,
        description=func.__doc__,
        epilog=environment_epilog(groups, classes) if groups else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def setting_type(kind: type, info: SettingInfo) -> Callable[[str], object]:
    """Return an argparse type: the setting's conversion and check (a bad flag exits 2)."""

    def convert(text: str) -> object:
        try:
            value = parse_text(kind, text, "value")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value=")) from None
        problem = info.check(value) if info.check else None
        if problem:
            raise argparse.ArgumentTypeError(f"{shorten(repr(text))} {problem}")
        return value

    return convert


def add_setting_flags(
    parser: argparse.ArgumentParser, groups: Sequence[SettingGroup], cls: type = Settings
) -> None:
    """Add a flag for every setting of cls in the given groups (default None: not given)."""
    server = None
    for item, info in declared(cls):
        if info.group not in groups or info.env_only:
            continue
        target: argparse.ArgumentParser | argparse._ArgumentGroup = parser
        if item.name.startswith(SERVER_PREFIX):
            server = server or parser.add_argument_group(
                "Chroma server (instead of the embedded store)"
            )
            target = server
        help_text = info.help_text(default_of(item))
        kind = field_type(cls, item.name)
        if kind is bool:
            flag = flag_of(item, info)
            target.add_argument(
                flag, dest=item.name, action="store_true", default=None, help=help_text
            )
            continue
        target.add_argument(
            flag_of(item, info),
            dest=item.name,
            type=setting_type(kind, info),
            default=None,
            choices=info.choices or None,
            metavar=info.metavar,
            help=help_text,
        )


def from_args(cls: type[SettingsT], args: argparse.Namespace) -> SettingsT:
    """Build a settings dataclass from the parsed flags over the environment."""
    overrides = {item.name: getattr(args, item.name, None) for item, _ in declared(cls)}
    return build_from(cls, overrides, os.environ)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build Settings from the parsed flags over the environment."""
    return from_args(Settings, args)


def request_number(
    kind: type[Number],
    check: Callable[[str, Number, Number, Number], object],
    name: str,
    low: Number,
    high: Number,
) -> Callable[[str], Number]:
    """argparse type: a number read by the settings' parser (finite only), then checked by
    the request's own check (search_app/retrieval/request.py), so a flag and an API value
    are refused with the same words."""

    def convert(text: str) -> Number:
        try:
            value = parse_number(kind, text, name)
            check(name, value, low, high)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return convert


def positive_int(text: str) -> int:
    """argparse type: an integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:  # also for more digits than int() reads (4,300)
        raise argparse.ArgumentTypeError(f"{shorten(repr(text))} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


MAX_SEED = 2**63 - 1  # the sample's hash takes the seed as 8 bytes


def seed_number(text: str) -> int:
    """argparse type: a whole number a seed can be (8 bytes, signed)."""
    try:
        value = parse_number(int, text, "seed")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not -MAX_SEED - 1 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {shorten(text)} is not from -2**63 to 2**63-1")
    return value


def add_sample_flags(parser: argparse.ArgumentParser, what: str = "rows to keep") -> None:
    """The sampling options: --limit N or --all, and --seed."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_LIMIT_ROWS,
        metavar="N",
        help=f"{what}, by a seeded sample that keeps a GIF's descriptions together "
        f"(default: {DEFAULT_LIMIT_ROWS:,})",
    )
    size.add_argument("--all", action="store_true", help="keep every row")
    parser.add_argument("--seed", type=seed_number, default=0, help="sample seed (default: 0)")


def environment_epilog(
    groups: Sequence[SettingGroup] = tuple(SettingGroup), classes: Sequence[type] = (Settings,)
) -> str:
    """Return the --help epilog listing the environment variables of these groups (a flag
    given wins over its variable)."""
    lines = ["environment variables (a flag given wins over its variable):"]
    for cls in classes:
        for item, info in declared(cls):
            if info.group not in groups:
                continue
            flag = "(no flag)" if info.env_only else flag_of(item, info)
            lines.append(f"  {info.env:<30} {flag}")
    return "\n".join(lines)


def settings_table(classes: Sequence[type] = (Settings,)) -> str:
    """Return the README's table of settings: flag, variable, default and meaning."""
    rows = ["| flag | environment variable | default | what it sets |", "|---|---|---|---|"]
    for cls in classes:
        for item, info in declared(cls):
            shown = f"`{info.shown_default(default_of(item))}`"
            flag = "(none)" if info.env_only else f"`{flag_of(item, info)}`"
            rows.append(f"| {flag} | `{info.env}` | {shown} | {info.help} |")
    return "\n".join(rows)
