"""The exercises CLI through its entry point: exit codes, stdout, stderr and files."""

from __future__ import annotations

import argparse
import json

import pytest

from exercises.cli import add_exercise_parsers, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_sgd_with_defaults_prints_the_table_and_writes_markdown(tmp_path, capsys):
    assert main(["sgd", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "z = 0.5*1 + (-0.3)*0.5 + 0.1 = 0.45" in captured.out
    assert "final parameters: w1 = 0.860145, w2 = -0.450856, b = 0.129216" in captured.out
    assert f"wrote {tmp_path / 'sgd.md'}" in captured.err
    assert "0.6106392339" in (tmp_path / "sgd.md").read_text()


def test_sgd_reads_options_and_config_file(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"examples": [{"x": [2.0], "y": 0}], "bias": 0.0}))
    assert main(["sgd", "--config", str(config), "--weights", "1", "--out", str(tmp_path)]) == 0
    assert "z = 1*2 + 0 = 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--weights", "0.5,-0.3,0.2"], "example 1 has 2 features but there are 3 weights"),
        (["--weights", "0.5,x"], "error: --weights must be a number, got 'x'"),
        (["--lr", "fast"], "error: --lr must be a number, got 'fast'"),
        (["--lr", "0"], "error: learning rate must be a number > 0, got 0.0"),
        (["--lr=-0.1"], "error: learning rate must be a number > 0, got -0.1"),
        (["--examples", '[{"x": [1, 2], "y": 1'], "error: --examples is not valid JSON"),
        (["--config", "missing.json"], "error: cannot read config file missing.json"),
    ],
    ids=[
        "weights-vs-features",
        "weight-not-numeric",
        "lr-not-numeric",
        "lr-zero",
        "lr-negative",
        "malformed-json",
        "missing-config",
    ],
)
def test_sgd_bad_option_gives_one_line_error_and_exit_1(tmp_path, capsys, flags, message):
    assert main(["sgd", *flags, "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_malformed_config_file_gives_one_line_error(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text('{"lr": 0.1,')
    assert main(["sgd", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: config file {config} is not valid JSON")
    assert err.count("\n") == 1


def test_unknown_flag_exits_2(capsys):
    assert main(["sgd", "--momentum", "0.9"]) == 2
    assert "unrecognized arguments: --momentum" in capsys.readouterr().err


def test_bad_int_flag_exits_2(capsys):
    assert main(["attention", "--layer", "last"]) == 2
    assert "invalid int value: 'last'" in capsys.readouterr().err


def test_parsers_register_on_a_host_cli():
    parser = argparse.ArgumentParser(prog="gifsearch")
    commands = parser.add_subparsers(dest="command")
    exercises = commands.add_parser("exercises").add_subparsers(dest="exercise", required=True)
    add_exercise_parsers(exercises)
    args = parser.parse_args(["exercises", "attention", "--word", "bank", "--layer", "2"])
    assert (args.word, args.layer, args.head) == ("bank", 2, 0)
    assert callable(args.func)
    assert callable(parser.parse_args(["exercises", "sgd"]).func)


def test_attention_with_defaults_prints_numbers_and_writes_files(tmp_path, capsys):
    assert main(["attention", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert 'Sentence 1: "She saw a bat flying in the night sky"' in captured.out
    assert "1. baseball" in captured.out
    assert 'Cosine similarity between the contextual "bat" vectors:' in captured.out
    assert "[CLS]/[SEP] are dropped" in captured.err
    assert (tmp_path / "attention.md").read_text().startswith('# Self-attention and the word "bat"')
    for name in ["attention_1.png", "attention_2.png", "attention_heads_1.png"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE


def test_attention_sentence_without_focus_word_exits_1_with_one_line(tmp_path, capsys):
    flags = ["--sentence", "A bat flew", "--sentence", "The cat slept", "--no-heads"]
    assert main(["attention", *flags, "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    last_line = captured.err.strip().splitlines()[-1]
    assert last_line == (
        'error: focus word "bat" is not in sentence 2 (its words: The, cat, slept); '
        "pick a word from each sentence with --word"
    )
    assert "Traceback" not in captured.err
    assert not (tmp_path / "attention.md").exists()


def test_attention_missing_model_exits_1(tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert main(["attention", "--model", str(missing), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f'error: cannot load model "{missing}"' in err
    assert "Traceback" not in err


def test_attention_in_a_new_process_prints_no_library_progress_bars(tmp_path):
    """A fresh process loads the model itself: no "Loading weights" bar may reach stderr."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "exercises", "attention", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr
    notes = ("loading model", "word pieces are averaged", "wrote ")
    assert all(line.startswith(notes) for line in result.stderr.splitlines()), result.stderr
