"""A store on a read-only file system (issue 22, case 5): every command says why in one line
(Chroma writes to its database even to open it for a search, so it can't be searched in
place) and what to do, instead of chromadb's "attempt to write a readonly database"
traceback; and what it says to do works.

The file system is made read-only for real with a read-only bind mount (root, as on the
machines CI runs on): file modes alone would not stop root from writing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gifsearch.cli import main
from ingest.job import IngestOptions, run_ingest
from search_app.settings import Settings
from tests.conftest import SAMPLE_LINES, write_tsv


@pytest.fixture
def read_only_store(tmp_path: Path, cached_loader: Callable) -> Iterator[Path]:
    """A 20-row store seen through a read-only bind mount; yields the mounted folder."""
    settings = Settings(store_dir=tmp_path / "store", model="minilm")
    source = write_tsv(tmp_path / "rows.tsv", SAMPLE_LINES[:20])
    run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
    mounted = tmp_path / "read-only"
    mounted.mkdir()
    steps = (["mount", "--bind", str(settings.store_dir), str(mounted)],
             ["mount", "-o", "remount,bind,ro", str(mounted)])  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(mounted)], capture_output=True)
            pytest.skip(f"can't make a read-only mount here: {done.stderr.strip()[:200]}")
    try:
        with pytest.raises(OSError, match="Read-only file system"):
            (mounted / "probe").touch()  # it really refuses writes, even root's
        yield mounted
    finally:
        subprocess.run(["umount", "-l", str(mounted)], check=False)


COMMANDS: dict[str, tuple[Callable[[Path], list[str]], tuple[str, ...]]] = {
    "search": (lambda store: ["search", "a dog", "--store", str(store)],
               ("can't be opened: it is on a read-only file system", "copy it somewhere "
                "writable", "--store /tmp/gifsearch-store")),
    "serve": (lambda store: ["serve", "--store", str(store)],
              ("can't be opened: it is on a read-only file system",)),
    "check-links": (lambda store: ["check-links", "--store", str(store)],
                    ("can't write the lock file of", "Read-only file system")),
    "ingest": (lambda store: ["ingest", "--source", "tgif-sample", "--store", str(store),
                              "--model", "minilm"],
               ("can't write the lock file of", "Read-only file system")),
}  # fmt: skip


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_a_read_only_store_is_one_line_saying_why(
    read_only_store: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, says = COMMANDS[command]
    capsys.readouterr()
    assert main(argv(read_only_store)) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert "readonly database" not in err
    for part in says:
        assert part in err, err


def test_the_copy_it_advises_can_be_searched(
    read_only_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(read_only_store, copy)
    assert main(["search", "a dog", "--store", str(copy), "-k", "3"]) == 0
    assert capsys.readouterr().out.count("https://") == 3
