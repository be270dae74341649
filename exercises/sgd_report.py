"""Write SGD steps out with their numbers: a terminal table and a Markdown page."""

from __future__ import annotations

from pathlib import Path

from exercises.sgd import BIAS_NAME, SgdStep, name_weights

TERMINAL_DIGITS = 6
MARKDOWN_DIGITS = 10
SGD_MARKDOWN_NAME = "sgd.md"

FORMULAS = (
    "z = w1*x1 + ... + wn*xn + b",
    "p = sigmoid(z) = 1 / (1 + exp(-z))",
    "L = -[y*ln(p) + (1-y)*ln(1-p)]   (binary cross-entropy)",
    "dL/dz = dL/dp * dp/dz = (-y/p + (1-y)/(1-p)) * p*(1-p) = p - y",
    "dL/dwi = dL/dz * dz/dwi = (p - y) * xi,   dL/db = dL/dz * dz/db = (p - y) * 1",
    "wi <- wi - lr * dL/dwi,   b <- b - lr * dL/db",
)


def format_number(value: float, digits: int) -> str:
    """Format with `digits` significant digits (Python's "g" format), never as "-0"."""
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def format_factor(value: float, digits: int) -> str:
    """Format a number for use inside a product, in parentheses when negative."""
    text = format_number(value, digits)
    return f"({text})" if text.startswith("-") else text


def format_vector(values: tuple[float, ...], digits: int) -> str:
    """Format numbers as "(a, b, ...)"."""
    return "(" + ", ".join(format_number(v, digits) for v in values) + ")"


def format_weighted_sum(step: SgdStep, digits: int) -> str:
    """Write out z = w1*x1 + ... + b with the step's numbers."""
    terms = [
        f"{format_factor(w, digits)}*{format_factor(x, digits)}"
        for w, x in zip(step.weights_before, step.example.features, strict=True)
    ]
    terms.append(format_factor(step.bias_before, digits))
    return f"z = {' + '.join(terms)} = {format_number(step.weighted_sum, digits)}"


def format_prediction(step: SgdStep, digits: int) -> str:
    """Write out p = sigmoid(z) = 1 / (1 + exp(-z)) with the step's numbers."""
    z = format_factor(step.weighted_sum, digits)
    return f"p = sigmoid(z) = 1 / (1 + exp(-{z})) = {format_number(step.prediction, digits)}"


def format_loss(step: SgdStep, digits: int) -> str:
    """Write out the binary cross-entropy with the step's numbers."""
    y = format_number(step.example.label, digits)
    one_minus_y = format_number(1.0 - step.example.label, digits)
    p = format_number(step.prediction, digits)
    one_minus_p = format_number(1.0 - step.prediction, digits)
    return (
        f"L = -[y*ln(p) + (1-y)*ln(1-p)] = -[{y}*ln({p}) + {one_minus_y}*ln({one_minus_p})]"
        f" = {format_number(step.loss, digits)}"
    )


def format_chain_rule(step: SgdStep, digits: int) -> tuple[str, str, str]:
    """Write out dL/dp, dp/dz and their product dL/dz = p - y with the step's numbers."""
    y, p = step.example.label, step.prediction
    dloss_dp = (
        f"dL/dp = -y/p + (1-y)/(1-p) = -{format_factor(y, digits)}/{format_number(p, digits)}"
        f" + {format_number(1.0 - y, digits)}/{format_number(1.0 - p, digits)}"
        f" = {format_number(step.dloss_dprediction, digits)}"
    )
    dp_dz = (
        f"dp/dz = p*(1-p) = {format_number(p, digits)}*{format_number(1.0 - p, digits)}"
        f" = {format_number(step.dprediction_dsum, digits)}"
    )
    dloss_dz = (
        f"dL/dz = dL/dp * dp/dz = {format_factor(step.dloss_dprediction, digits)}"
        f"*{format_factor(step.dprediction_dsum, digits)}"
        f" = {format_number(step.dloss_dsum, digits)}"
        f"   (simplifies to p - y = {format_number(p, digits)} - {format_factor(y, digits)})"
    )
    return dloss_dp, dp_dz, dloss_dz


def format_update_rows(step: SgdStep, digits: int) -> list[tuple[str, ...]]:
    """One row per parameter: name, old value, chain rule, gradient, update, new value."""
    inputs = (*(f"x{i}" for i in range(1, len(step.weights_before) + 1)), "1")
    lr = step.learning_rate
    rows: list[tuple[str, ...]] = []
    for update, dz_name in zip(step.updates, inputs, strict=True):
        rows.append(
            (
                update.name,
                format_number(update.old_value, digits),
                f"dL/dz * {dz_name} = {format_factor(step.dloss_dsum, digits)}"
                f"*{format_factor(update.dz_dparam, digits)}",
                format_number(update.gradient, digits),
                f"{format_number(update.old_value, digits)} - {format_number(lr, digits)}"
                f"*{format_factor(update.gradient, digits)}",
                format_number(update.new_value, digits),
            )
        )
    return rows


UPDATE_HEADER = ("param", "old", "dL/dparam (chain rule)", "gradient", "old - lr*gradient", "new")


def format_example_title(step: SgdStep, digits: int) -> str:
    """Title a step with its epoch, example number, x and y."""
    return (
        f"Step {step.step} (epoch {step.epoch}, example {step.example_number}: "
        f"x = {format_vector(step.example.features, digits)}, "
        f"y = {format_number(step.example.label, digits)})"
    )


def format_text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Align columns with spaces, with a dashed rule under the header."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    rule = "  ".join("-" * width for width in widths)
    head = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return [head.rstrip(), rule, *(line.rstrip() for line in lines)]


def format_final_parameters(step: SgdStep, digits: int) -> str:
    """Name every parameter with its value after the step."""
    names = (*name_weights(len(step.weights_after)), BIAS_NAME)
    values = (*step.weights_after, step.bias_after)
    return ", ".join(
        f"{n} = {format_number(v, digits)}" for n, v in zip(names, values, strict=True)
    )


def format_sgd_text(steps: list[SgdStep], digits: int = TERMINAL_DIGITS) -> str:
    """Render the steps for a terminal: the calculations, then a table of updates per step."""
    lines = ["SGD on one sigmoid neuron, binary cross-entropy loss, one example per step", ""]
    lines += [f"  {formula}" for formula in FORMULAS]
    if steps:
        lines += ["", f"learning rate lr = {format_number(steps[0].learning_rate, digits)}"]
    for step in steps:
        lines += ["", format_example_title(step, digits), ""]
        lines += [f"  input       {format_weighted_sum(step, digits)}"]
        lines += [f"  prediction  {format_prediction(step, digits)}"]
        lines += [f"  loss (BCE)  {format_loss(step, digits)}"]
        dloss_dp, dp_dz, dloss_dz = format_chain_rule(step, digits)
        lines += [
            f"  chain rule  {dloss_dp}",
            f"              {dp_dz}",
            f"              {dloss_dz}",
        ]
        lines += [""]
        table = format_text_table(UPDATE_HEADER, format_update_rows(step, digits))
        lines += [f"  {line}" for line in table]
        lines += [
            "",
            f"  loss on this example: {format_number(step.loss, digits)} before, "
            f"{format_number(step.loss_after, digits)} after the update",
        ]
    if steps:
        lines += ["", f"final parameters: {format_final_parameters(steps[-1], digits)}"]
    return "\n".join(lines) + "\n"


def format_markdown_row(cells: tuple[str, ...]) -> str:
    """One Markdown table row, code-formatting each cell."""
    return "| " + " | ".join(f"`{cell}`" for cell in cells) + " |"


def format_sgd_markdown(steps: list[SgdStep], digits: int = MARKDOWN_DIGITS) -> str:
    """Render the steps as Markdown with `digits` significant digits per number."""
    lines = [
        "# Gradient descent by hand: one sigmoid neuron",
        "",
        "Plain SGD, one example per step, binary cross-entropy loss. Formulas:",
        "",
        "```text",
        *FORMULAS,
        "```",
        "",
        f"Numbers have {digits} significant digits; each step starts from the full-precision",
        "parameters of the step before.",
    ]
    if steps:
        lines += ["", f"Learning rate: `lr = {format_number(steps[0].learning_rate, digits)}`"]
    for step in steps:
        dloss_dp, dp_dz, dloss_dz = format_chain_rule(step, digits)
        lines += ["", f"## {format_example_title(step, digits)}", ""]
        lines += [
            f"- input: `{format_weighted_sum(step, digits)}`",
            f"- prediction: `{format_prediction(step, digits)}`",
            f"- loss (binary cross-entropy): `{format_loss(step, digits)}`",
            f"- chain rule: `{dloss_dp}`",
            f"- chain rule: `{dp_dz}`",
            f"- chain rule: `{dloss_dz}`",
            "",
            "| " + " | ".join(UPDATE_HEADER) + " |",
            "|" + "---|" * len(UPDATE_HEADER),
            *(format_markdown_row(row) for row in format_update_rows(step, digits)),
            "",
            f"Loss on this example: `{format_number(step.loss, digits)}` before, "
            f"`{format_number(step.loss_after, digits)}` after the update.",
        ]
    if steps:
        lines += ["", f"Final parameters: `{format_final_parameters(steps[-1], digits)}`"]
    return "\n".join(lines) + "\n"


def write_sgd_markdown(steps: list[SgdStep], out_dir: Path) -> Path:
    """Write the Markdown page to out_dir/sgd.md, creating out_dir, and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SGD_MARKDOWN_NAME
    path.write_text(format_sgd_markdown(steps), encoding="utf-8")
    return path
