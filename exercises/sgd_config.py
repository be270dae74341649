"""The SGD exercise's configuration: defaults, JSON files and command-line strings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from exercises.errors import OptionError

CONFIG_KEYS = ("lr", "weights", "bias", "examples", "epochs")
EXAMPLE_KEYS = ("x", "y")


@dataclass(frozen=True)
class Example:
    """One training example: features x_1..x_n and a label y in [0, 1]."""

    features: tuple[float, ...]
    label: float


@dataclass(frozen=True)
class SgdConfig:
    """Learning rate, initial weights and bias, the examples, and passes over them."""

    learning_rate: float
    weights: tuple[float, ...]
    bias: float
    examples: tuple[Example, ...]
    epochs: int = 1

    def __post_init__(self) -> None:
        check_sgd_config(self)


def check_sgd_config(config: SgdConfig) -> None:
    """Raise OptionError unless lr > 0, labels lie in [0, 1] and every x has one value per w."""
    if not math.isfinite(config.learning_rate) or config.learning_rate <= 0:
        raise OptionError(f"learning rate must be a number > 0, got {config.learning_rate!r}")
    if not config.weights:
        raise OptionError("at least one weight is needed, got none")
    if not config.examples:
        raise OptionError("at least one example is needed, got none")
    if config.epochs < 1:
        raise OptionError(f"epochs must be an integer >= 1, got {config.epochs!r}")
    values = [*config.weights, config.bias]
    for example in config.examples:
        values.extend(example.features)
    if not all(math.isfinite(value) for value in values):
        raise OptionError("weights, bias and features must be finite numbers (no nan or inf)")
    for number, example in enumerate(config.examples, start=1):
        if len(example.features) != len(config.weights):
            raise OptionError(
                f"example {number} has {len(example.features)} features but there are "
                f"{len(config.weights)} weights; give one weight per feature"
            )
        if not 0.0 <= example.label <= 1.0:
            raise OptionError(
                f"example {number} has label y={example.label!r}; y must lie in [0, 1]"
            )


DEFAULT_SGD_CONFIG = SgdConfig(
    learning_rate=0.5,
    weights=(0.5, -0.3),
    bias=0.1,
    examples=(
        Example(features=(1.0, 0.5), label=1.0),
        Example(features=(-1.0, 1.5), label=0.0),
    ),
)


def parse_number(text: str, what: str) -> float:
    """Parse one finite decimal number, quoting the bad text in the error."""
    try:
        value = float(text.strip())
    except ValueError:
        raise OptionError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise OptionError(f"{what} must be a finite number, got {text!r}")
    return value


def parse_number_list(text: str, what: str) -> tuple[float, ...]:
    """Parse comma-separated numbers such as "0.5,-0.3"."""
    if not text.strip():
        raise OptionError(f"{what} must be comma-separated numbers such as 0.5,-0.3, got {text!r}")
    return tuple(parse_number(part, what) for part in text.split(","))


def read_json_value(value: Any, what: str) -> float:
    """Return a JSON number as float; booleans, strings and null are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionError(f"{what} must be a number, got {json.dumps(value)}")
    return float(value)


def read_examples(value: Any) -> tuple[Example, ...]:
    """Read examples from JSON data shaped [{"x": [x1, x2, ...], "y": y}, ...]."""
    if not isinstance(value, list):
        raise OptionError('examples must be a JSON list like [{"x": [1.0, 0.5], "y": 1}]')
    examples = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) != set(EXAMPLE_KEYS):
            raise OptionError(
                f'example {number} must be an object with keys "x" and "y", got {json.dumps(item)}'
            )
        if not isinstance(item["x"], list):
            raise OptionError(f'example {number}: "x" must be a list of numbers')
        features = tuple(read_json_value(v, f"example {number} feature") for v in item["x"])
        label = read_json_value(item["y"], f"example {number} label y")
        examples.append(Example(features=features, label=label))
    return tuple(examples)


def parse_examples_json(text: str) -> tuple[Example, ...]:
    """Parse the --examples option: a JSON list of {"x": [...], "y": ...} objects."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OptionError(f"--examples is not valid JSON ({exc.msg} at char {exc.pos})") from None
    return read_examples(value)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a JSON object with any of the keys lr, weights, bias, examples, epochs."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OptionError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OptionError(
            f"config file {path} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise OptionError(f"config file {path} must hold a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise OptionError(
            f"config file {path} has unknown keys {unknown}; allowed: {list(CONFIG_KEYS)}"
        )
    return data


def read_config_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Map a parsed config file onto SgdConfig field names, checking each value's type."""
    changes: dict[str, Any] = {}
    if "lr" in data:
        changes["learning_rate"] = read_json_value(data["lr"], "lr")
    if "weights" in data:
        if not isinstance(data["weights"], list):
            raise OptionError("weights must be a JSON list of numbers such as [0.5, -0.3]")
        changes["weights"] = tuple(read_json_value(v, "weight") for v in data["weights"])
    if "bias" in data:
        changes["bias"] = read_json_value(data["bias"], "bias")
    if "examples" in data:
        changes["examples"] = read_examples(data["examples"])
    if "epochs" in data:
        epochs = data["epochs"]
        if isinstance(epochs, bool) or not isinstance(epochs, int):
            raise OptionError(f"epochs must be an integer >= 1, got {json.dumps(epochs)}")
        changes["epochs"] = epochs
    return changes


def build_sgd_config(
    lr: str | None = None,
    weights: str | None = None,
    bias: str | None = None,
    examples: str | None = None,
    config_path: Path | None = None,
    epochs: int | None = None,
    base: SgdConfig = DEFAULT_SGD_CONFIG,
) -> SgdConfig:
    """Build the config: defaults, then the config file, then each option given as text."""
    # One replace at the end, so a file that changes the feature count and a --weights flag
    # that matches it are checked together rather than one at a time.
    changes: dict[str, Any] = {}
    if config_path is not None:
        changes.update(read_config_changes(read_config_file(config_path)))
    if lr is not None:
        changes["learning_rate"] = parse_number(lr, "--lr")
    if weights is not None:
        changes["weights"] = parse_number_list(weights, "--weights")
    if bias is not None:
        changes["bias"] = parse_number(bias, "--bias")
    if examples is not None:
        changes["examples"] = parse_examples_json(examples)
    if epochs is not None:
        changes["epochs"] = epochs
    return replace(base, **changes)
