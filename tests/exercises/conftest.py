"""Fixtures for the exercises tests: the real bundled MiniLM, loaded once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model is local; never reach a hub


@pytest.fixture(scope="session")
def minilm_model():
    """The bundled all-MiniLM-L6-v2 as a SentenceTransformer on CPU."""
    from exercises.encoder import load_model

    return load_model()


@pytest.fixture(scope="session")
def default_report(minilm_model):
    """The attention analysis of the two default "bat" sentences, with the head view."""
    from exercises.attention import DEFAULT_FOCUS_WORD, DEFAULT_SENTENCES, analyze_sentences

    return analyze_sentences(DEFAULT_SENTENCES, DEFAULT_FOCUS_WORD, minilm_model)
