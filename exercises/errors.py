"""Typed errors raised by the exercises; the CLI turns each into one line."""


class ExerciseError(Exception):
    """Base class for every expected failure of an exercise."""


class OptionError(ExerciseError, ValueError):
    """An option or configuration value is malformed or out of range."""


class FocusWordError(ExerciseError, ValueError):
    """The focus word is not a single word or does not occur in a sentence."""


class EncoderLoadError(ExerciseError):
    """The sentence-transformers model cannot be loaded or lacks what the exercise needs."""
