"""The SGD exercise: gradients, updates and formatting checked against torch and by hand."""

from __future__ import annotations

import json
import random

import pytest
import torch

from exercises.errors import OptionError
from exercises.sgd import compute_example_loss, run_sgd, take_sgd_step
from exercises.sgd_config import DEFAULT_SGD_CONFIG, Example, SgdConfig, build_sgd_config
from exercises.sgd_report import format_sgd_markdown, format_sgd_text

FINITE_DIFFERENCE_STEP = 1e-6
TOLERANCE = 1e-6


def make_random_config(seed: int, features: int, learning_rate: float = 0.5) -> SgdConfig:
    """A config with seeded random weights, features and soft or hard labels."""
    rng = random.Random(seed)
    examples = tuple(
        Example(
            features=tuple(rng.uniform(-2.0, 2.0) for _ in range(features)),
            label=rng.choice([0.0, 1.0, rng.random()]),
        )
        for _ in range(3)
    )
    return SgdConfig(
        learning_rate=learning_rate,
        weights=tuple(rng.uniform(-1.0, 1.0) for _ in range(features)),
        bias=rng.uniform(-1.0, 1.0),
        examples=examples,
    )


CONFIGS = [
    DEFAULT_SGD_CONFIG,
    make_random_config(seed=1, features=1),
    make_random_config(seed=2, features=3),
    make_random_config(seed=3, features=5, learning_rate=2.0),
    SgdConfig(
        learning_rate=0.1,
        weights=(3.0, -4.0),
        bias=2.0,
        examples=(Example((2.0, -1.5), 0.0), Example((-3.0, 2.0), 1.0)),
    ),
]
CONFIG_IDS = ["default", "1-feature", "3-features-soft-labels", "5-features-lr2", "large-z"]


def compute_torch_gradients(step) -> list[float]:
    """dL/dw and dL/db from torch autograd in float64 for the step's starting point."""
    weights = torch.tensor(step.weights_before, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(step.bias_before, dtype=torch.float64, requires_grad=True)
    features = torch.tensor(step.example.features, dtype=torch.float64)
    label = torch.tensor(step.example.label, dtype=torch.float64)
    # BCE(sigmoid(z), y) in torch's numerically stable logits form: the same function.
    loss = torch.nn.functional.binary_cross_entropy_with_logits(weights @ features + bias, label)
    loss.backward()
    assert loss.item() == pytest.approx(step.loss, abs=1e-12)
    return [*weights.grad.tolist(), bias.grad.item()]


def compute_finite_difference_gradients(step) -> list[float]:
    """(L(theta + h e_i) - L(theta - h e_i)) / 2h for every weight and the bias."""
    params = [*step.weights_before, step.bias_before]
    gradients = []
    for i in range(len(params)):
        plus, minus = list(params), list(params)
        plus[i] += FINITE_DIFFERENCE_STEP
        minus[i] -= FINITE_DIFFERENCE_STEP
        loss_plus = compute_example_loss(tuple(plus[:-1]), plus[-1], step.example)
        loss_minus = compute_example_loss(tuple(minus[:-1]), minus[-1], step.example)
        gradients.append((loss_plus - loss_minus) / (2 * FINITE_DIFFERENCE_STEP))
    return gradients


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_every_gradient_equals_torch_autograd(config):
    for step in run_sgd(config):
        gradients = [update.gradient for update in step.updates]
        assert gradients == pytest.approx(compute_torch_gradients(step), abs=TOLERANCE)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_every_gradient_equals_central_finite_difference(config):
    for step in run_sgd(config):
        gradients = [update.gradient for update in step.updates]
        assert gradients == pytest.approx(compute_finite_difference_gradients(step), abs=TOLERANCE)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_chain_rule_factors_multiply_to_p_minus_y(config):
    for step in run_sgd(config):
        product = step.dloss_dprediction * step.dprediction_dsum
        assert product == pytest.approx(step.dloss_dsum, abs=1e-12)
        assert step.dloss_dsum == pytest.approx(step.prediction - step.example.label, abs=1e-15)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_update_is_old_minus_lr_times_gradient(config):
    for step in run_sgd(config):
        for update in step.updates:
            expected = update.old_value - config.learning_rate * update.gradient
            assert update.new_value == pytest.approx(expected, abs=1e-15)
        assert step.weights_after == tuple(u.new_value for u in step.updates[:-1])
        assert step.bias_after == step.updates[-1].new_value


@pytest.mark.parametrize("seed", range(20))
def test_loss_on_an_example_drops_after_its_own_update_for_small_lr(seed):
    config = make_random_config(seed, features=1 + seed % 4, learning_rate=0.01)
    for step in run_sgd(config):
        assert step.loss_after < step.loss


def test_loss_drops_after_each_step_with_the_default_config():
    for step in run_sgd(DEFAULT_SGD_CONFIG):
        assert step.loss_after < step.loss


def test_each_step_starts_from_the_previous_steps_parameters():
    config = build_sgd_config(epochs=3)
    steps = run_sgd(config)
    assert len(steps) == 3 * len(config.examples)
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.weights_before == before.weights_after
        assert after.bias_before == before.bias_after
    assert [s.epoch for s in steps] == [1, 1, 2, 2, 3, 3]


def test_default_first_step_matches_hand_calculation():
    step = run_sgd(DEFAULT_SGD_CONFIG)[0]
    assert step.weighted_sum == pytest.approx(0.5 * 1.0 - 0.3 * 0.5 + 0.1)
    assert step.prediction == pytest.approx(0.6106392339, abs=1e-10)
    assert step.loss == pytest.approx(0.4932489460, abs=1e-10)


def test_extreme_weighted_sum_keeps_loss_finite():
    step = take_sgd_step((50.0,), 0.0, Example((1.0,), 0.0), learning_rate=0.1)
    assert step.loss == pytest.approx(50.0, rel=1e-12)
    assert step.updates[0].gradient == pytest.approx(1.0)


def test_terminal_text_writes_out_the_weighted_sum_with_numbers():
    text = format_sgd_text(run_sgd(DEFAULT_SGD_CONFIG))
    assert "z = 0.5*1 + (-0.3)*0.5 + 0.1 = 0.45" in text
    assert "p = sigmoid(z) = 1 / (1 + exp(-0.45)) = 0.610639" in text
    assert "w1     0.5   dL/dz * x1 = (-0.389361)*1" in text


def test_markdown_gives_at_least_six_significant_digits():
    markdown = format_sgd_markdown(run_sgd(DEFAULT_SGD_CONFIG))
    assert "0.6106392339" in markdown
    assert "| `w1` | `0.5` | `dL/dz * x1 = (-0.3893607661)*1` |" in markdown
    assert "Final parameters: `w1 = 0.8601445088" in markdown


def test_config_file_is_read_and_flags_override_it(tmp_path):
    path = tmp_path / "config.json"
    examples = [{"x": [1.0, 2.0, 3.0], "y": 1}]
    path.write_text(json.dumps({"lr": 0.2, "weights": [0.1, 0.2, 0.3], "examples": examples}))
    config = build_sgd_config(config_path=path, lr="0.05", weights="1,2,3")
    assert config.learning_rate == 0.05
    assert config.weights == (1.0, 2.0, 3.0)
    assert config.bias == DEFAULT_SGD_CONFIG.bias
    assert config.examples == (Example((1.0, 2.0, 3.0), 1.0),)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": "1,2,3"}, "example 1 has 2 features but there are 3 weights"),
        ({"weights": "0.5,abc"}, "--weights must be a number, got 'abc'"),
        ({"lr": "0"}, "learning rate must be a number > 0"),
        ({"lr": "nan"}, "--lr must be a finite number"),
        ({"bias": ""}, "--bias must be a number"),
        ({"examples": '[{"x": [1, 2]}]'}, 'must be an object with keys "x" and "y"'),
        ({"examples": '[{"x": [1, "a"], "y": 1}]'}, 'example 1 feature must be a number, got "a"'),
        ({"examples": '[{"x": [1, 2], "y": 2}]'}, "y must lie in [0, 1]"),
        ({"examples": "[]"}, "at least one example is needed"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
    ],
    ids=[
        "weights-vs-features",
        "weight-not-numeric",
        "lr-zero",
        "lr-nan",
        "bias-empty",
        "example-missing-y",
        "feature-not-numeric",
        "label-out-of-range",
        "no-examples",
        "epochs-zero",
    ],
)
def test_bad_options_raise_config_error_naming_the_value(options, message):
    with pytest.raises(OptionError) as info:
        build_sgd_config(**options)
    assert message in str(info.value)
