"""Cases of the backward_pass assignment: inputs only.

The grader builds the graded function's arguments with `arguments` and computes every
expected value itself by running the reference notebook on them.
"""

import numpy as np

# Shapes (n_input, n_hidden) every hidden set contains, whatever the seed: the edges a
# wrong axis or a missing outer product trips over.
EDGE_SHAPES = [(1, 1), (1, 4), (5, 1), (3, 3), (6, 6), (10, 8), (2, 7), (8, 2)]
# A case whose output sits this close to the target tells little and amplifies float32
# rounding, so targets are drawn away from the output.
MIN_ERROR = 0.05


def public_inputs() -> dict:
    """The demo cell's values, whose deltas the course publishes."""
    return {
        "x": np.array([0.5, 0.1, -0.2]),
        "target": 0.6,
        "learnrate": 0.5,
        "weights_input_to_hidden": np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]),
        "weights_hidden_to_output": np.array([0.1, -0.3]),
    }


def arguments(reference, inputs: dict) -> dict:
    """The graded function's arguments, by parameter name, from a case's inputs."""
    hidden_layer_out, output_layer_out = reference.forward_pass(
        inputs["x"], inputs["weights_input_to_hidden"], inputs["weights_hidden_to_output"]
    )
    return {
        "x": inputs["x"],
        "target": inputs["target"],
        "learnrate": inputs["learnrate"],
        "hidden_layer_out": hidden_layer_out,
        "output_layer_out": output_layer_out,
        "weights_hidden_to_output": inputs["weights_hidden_to_output"],
    }


def hidden_inputs(rng: np.random.Generator, count: int, reference) -> list[tuple[str, dict]]:
    """`count` labelled cases; the label describes the inputs, never the expected values."""
    plans = [(n_input, n_hidden, "") for n_input, n_hidden in EDGE_SHAPES]
    plans += [(4, 3, "saturated hidden layer"), (3, 5, "saturated output"), (7, 7, "saturated hidden layer")]
    plans.append((3, 2, "learnrate 1"))
    while len(plans) < count:
        plans.append((int(rng.integers(1, 11)), int(rng.integers(1, 9)), ""))
    return [_draw(rng, reference, *plan) for plan in plans[:count]]


def _draw(rng, reference, n_input: int, n_hidden: int, kind: str) -> tuple[str, dict]:
    input_scale = 10.0 if kind == "saturated hidden layer" else 1.0
    while True:
        inputs = {
            "x": rng.uniform(-1.0, 1.0, n_input),
            "target": float(rng.uniform(0.0, 1.0)),
            "learnrate": 1.0 if kind == "learnrate 1" else float(rng.uniform(0.05, 1.0)),
            "weights_input_to_hidden": rng.normal(0.0, input_scale, (n_input, n_hidden)),
            "weights_hidden_to_output": rng.normal(0.0, 1.0, n_hidden),
        }
        if kind == "saturated output":
            _saturate_output(rng, reference, inputs)
        _, output = reference.forward_pass(
            inputs["x"], inputs["weights_input_to_hidden"], inputs["weights_hidden_to_output"]
        )
        if abs(inputs["target"] - output) >= MIN_ERROR:
            break
    shape = f"{n_input} input{'s' if n_input > 1 else ''}, {n_hidden} hidden unit{'s' if n_hidden > 1 else ''}"
    if n_input == n_hidden:
        shape += " (square)"
    return (f"{shape}, {kind}" if kind else shape), inputs


def _saturate_output(rng, reference, inputs: dict) -> None:
    """Scale the output weights so the output unit's input is 4 to 6 away from 0.

    That makes its sigmoid derivative small (0.0025 to 0.018) yet keeps it far enough from 0
    that a student computing in float32 still gets it to within the rubric's tolerance.
    """
    hidden, _ = reference.forward_pass(inputs["x"], inputs["weights_input_to_hidden"], inputs["weights_hidden_to_output"])
    pre_activation = float(hidden @ inputs["weights_hidden_to_output"])
    if abs(pre_activation) < 1e-3:
        pre_activation = 1e-3
    inputs["weights_hidden_to_output"] *= rng.uniform(4.0, 6.0) / abs(pre_activation)
