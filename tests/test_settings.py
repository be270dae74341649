"""Settings: declared once; environment under flags; every declaration complete; the
README's table made from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gifsearch.flags import settings_table
from gifsearch.serve_cmd import ServeSettings, read_auth_file
from search_app.errors import ConfigError
from search_app.settings import Settings, build_from, build_settings, declared, env_vars
from search_app.web.api.keys import read_keys_file

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_environment_sets_and_a_flag_wins() -> None:
    env = {"GIFSEARCH_COLLECTION": "from-env", "GIFSEARCH_CHROMA_PORT": "9001"}
    settings = build_settings({"collection": "from-flag", "chroma_port": None}, env)
    assert settings.collection == "from-flag" and settings.chroma_port == 9001


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GIFSEARCH_CHROMA_SSL": "yes"}, {"chroma_ssl": True}),
        ({"GIFSEARCH_CHROMA_SSL": "0"}, {"chroma_ssl": False}),
        ({"GIFSEARCH_NETWORK_TIMEOUT_S": "2.5"}, {"network_timeout_s": 2.5}),
        ({"GIFSEARCH_STORE": "~/gifs"}, {"store_dir": Path("~/gifs").expanduser()}),
        ({"GIFSEARCH_CHROMA_HOST": ""}, {"chroma_host": None}),  # empty: not set
    ],
    ids=["bool-yes", "bool-0", "float", "path", "empty"],
)
def test_variables_are_read_as_their_fields_types(env: dict, expected: dict) -> None:
    settings = build_settings({}, env)
    assert {name: getattr(settings, name) for name in expected} == expected


def test_every_setting_is_fully_declared_with_its_own_variable() -> None:
    variables = []
    for cls in (Settings, ServeSettings):
        for item, info in declared(cls):
            assert info.help and info.env.startswith("GIFSEARCH_"), item.name
            variables.append(info.env)
    assert len(variables) == len(set(variables))
    assert env_vars()["store_dir"] == "GIFSEARCH_STORE"


def test_a_value_failing_its_check_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="Chroma port 0 is not between 1 and 65535"):
        Settings(chroma_port=0)


def test_the_login_comes_from_the_environment_and_never_shows(tmp_path: Path) -> None:
    serve = build_from(ServeSettings, {}, {"GIFSEARCH_AUTH": "ann:s3cret"})
    assert serve.login == ("ann", "s3cret") and "s3cret" not in repr(serve)
    login = tmp_path / "login"
    login.write_text("bob:pw\n")
    assert build_from(ServeSettings, {"auth_file": login}, {}).login == ("bob", "pw")


def test_the_readme_table_is_the_one_the_declarations_make() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S
    )
    assert found, "README.md lost its settings table markers"
    assert found.group(1).strip() == settings_table((Settings, ServeSettings)), (
        "README's settings table is stale: paste in the output of `make settings-table`"
    )


@pytest.mark.parametrize("reader", [read_auth_file, read_keys_file])
def test_a_login_or_keys_file_that_is_not_a_small_text_file_is_one_line(
    tmp_path: Path, reader: Callable[[Path], object]
) -> None:
    too_big = tmp_path / "big"
    too_big.write_text("x" * 1_000_000)
    not_text = tmp_path / "binary"
    not_text.write_bytes(b"\xff\xfe\x00bob")
    for path, says in [
        (tmp_path, "is not a regular file"),
        (tmp_path / "missing", "is not a regular file"),
        (too_big, "bytes"),
        (not_text, "not UTF-8 text"),
    ]:
        with pytest.raises(ConfigError) as raised:
            reader(path)
        message = str(raised.value)
        assert says in message and "\n" not in message and str(path) in message
