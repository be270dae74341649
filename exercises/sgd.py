"""Plain SGD on one sigmoid neuron with binary cross-entropy, one example per step.

Model:      z = w_1*x_1 + ... + w_n*x_n + b,   p = sigmoid(z) = 1 / (1 + exp(-z))
Loss:       L = -[y*ln(p) + (1 - y)*ln(1 - p)]            (binary cross-entropy)
Gradients:  dL/dw_i = dL/dp * dp/dz * dz/dw_i = (p - y) * x_i,   dL/db = (p - y) * 1
Update:     w_i <- w_i - lr * dL/dw_i,   b <- b - lr * dL/db
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exercises.sgd_config import Example, SgdConfig

BIAS_NAME = "b"


@dataclass(frozen=True)
class ParamUpdate:
    """One parameter's step: dL/dparam = dL/dz * dz/dparam, then new = old - lr * gradient."""

    name: str
    old_value: float
    dz_dparam: float
    gradient: float
    new_value: float


@dataclass(frozen=True)
class SgdStep:
    """Everything computed in one SGD step on one example, in the order a student checks it."""

    step: int
    epoch: int
    example_number: int
    example: Example
    learning_rate: float
    weights_before: tuple[float, ...]
    bias_before: float
    weighted_sum: float
    prediction: float
    loss: float
    dloss_dprediction: float
    dprediction_dsum: float
    dloss_dsum: float
    updates: tuple[ParamUpdate, ...]
    weights_after: tuple[float, ...]
    bias_after: float
    loss_after: float


def name_weights(count: int) -> tuple[str, ...]:
    """Name the weights w1..wn, matching features x1..xn."""
    return tuple(f"w{i}" for i in range(1, count + 1))


def compute_weighted_sum(
    weights: tuple[float, ...], bias: float, features: tuple[float, ...]
) -> float:
    """z = sum_i w_i * x_i + b."""
    return math.fsum(w * x for w, x in zip(weights, features, strict=True)) + bias


def compute_sigmoid(z: float) -> float:
    """p = sigmoid(z) = 1 / (1 + exp(-z)), evaluated as exp(z) / (1 + exp(z)) when z < 0."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def compute_bce_loss(z: float, label: float) -> float:
    """L = -[y*ln(p) + (1-y)*ln(1-p)] with p = sigmoid(z), as max(z,0) - y*z + ln(1 + exp(-|z|)).

    The two forms are equal; the second never takes ln(0) when p rounds to 0 or 1.
    """
    return max(z, 0.0) - label * z + math.log1p(math.exp(-abs(z)))


def compute_example_loss(weights: tuple[float, ...], bias: float, example: Example) -> float:
    """L(w, b) on one example: BCE of sigmoid(sum_i w_i*x_i + b) against y."""
    return compute_bce_loss(compute_weighted_sum(weights, bias, example.features), example.label)


def compute_dloss_dprediction(prediction: float, label: float) -> float:
    """dL/dp = -y/p + (1-y)/(1-p); infinite when p is exactly 0 or 1."""
    total = 0.0
    if label != 0.0:
        total -= label / prediction if prediction > 0.0 else math.inf
    if label != 1.0:
        total += (1.0 - label) / (1.0 - prediction) if prediction < 1.0 else math.inf
    return total


def compute_dprediction_dsum(prediction: float) -> float:
    """dp/dz = sigmoid'(z) = p * (1 - p)."""
    return prediction * (1.0 - prediction)


def compute_dloss_dsum(prediction: float, label: float) -> float:
    """dL/dz = dL/dp * dp/dz = (-y/p + (1-y)/(1-p)) * p*(1-p) = p - y."""
    return prediction - label


def apply_update(value: float, gradient: float, learning_rate: float) -> float:
    """new = old - lr * gradient."""
    return value - learning_rate * gradient


def take_sgd_step(
    weights: tuple[float, ...],
    bias: float,
    example: Example,
    learning_rate: float,
    step: int = 1,
    epoch: int = 1,
    example_number: int = 1,
) -> SgdStep:
    """One step: z = w.x + b, p = sigmoid(z), L = BCE(p, y), g = (p - y)*x, w <- w - lr*g."""
    weighted_sum = compute_weighted_sum(weights, bias, example.features)
    prediction = compute_sigmoid(weighted_sum)
    dloss_dsum = compute_dloss_dsum(prediction, example.label)
    names = (*name_weights(len(weights)), BIAS_NAME)
    old_values = (*weights, bias)
    dz_dparams = (*example.features, 1.0)
    updates = tuple(
        ParamUpdate(
            name=name,
            old_value=old,
            dz_dparam=dz,
            gradient=dloss_dsum * dz,
            new_value=apply_update(old, dloss_dsum * dz, learning_rate),
        )
        for name, old, dz in zip(names, old_values, dz_dparams, strict=True)
    )
    weights_after = tuple(update.new_value for update in updates[:-1])
    bias_after = updates[-1].new_value
    return SgdStep(
        step=step,
        epoch=epoch,
        example_number=example_number,
        example=example,
        learning_rate=learning_rate,
        weights_before=tuple(weights),
        bias_before=bias,
        weighted_sum=weighted_sum,
        prediction=prediction,
        loss=compute_bce_loss(weighted_sum, example.label),
        dloss_dprediction=compute_dloss_dprediction(prediction, example.label),
        dprediction_dsum=compute_dprediction_dsum(prediction),
        dloss_dsum=dloss_dsum,
        updates=updates,
        weights_after=weights_after,
        bias_after=bias_after,
        loss_after=compute_example_loss(weights_after, bias_after, example),
    )


def run_sgd(config: SgdConfig) -> list[SgdStep]:
    """Run plain SGD: for each epoch, for each example in order, take one step on it alone."""
    weights, bias = config.weights, config.bias
    steps: list[SgdStep] = []
    for epoch in range(1, config.epochs + 1):
        for number, example in enumerate(config.examples, start=1):
            step = take_sgd_step(
                weights,
                bias,
                example,
                config.learning_rate,
                step=len(steps) + 1,
                epoch=epoch,
                example_number=number,
            )
            steps.append(step)
            weights, bias = step.weights_after, step.bias_after
    return steps
