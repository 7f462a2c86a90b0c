"""Cases of the train_network assignment: inputs only.

Each case is one epoch's inputs: records, their targets, both weight matrices and a learning
rate. The grader builds the graded function's arguments with `arguments` and computes every
expected value itself by running the reference notebook on them.
"""

import numpy as np

# (records, input features, hidden units, kind) every hidden set contains, whatever the seed:
# the edges a wrong axis, a missing new axis, a delta overwritten instead of accumulated or a
# missing average trip over. Square weight matrices are where `hidden_error_term * x` without
# a new axis and a transposed outer product run instead of raising.
EDGE_PLANS = [
    (1, 3, 2, ""),
    (1, 1, 1, ""),
    (6, 1, 3, ""),
    (7, 4, 1, ""),
    (80, 6, 4, ""),
    (120, 3, 2, ""),
    (10, 3, 3, ""),
    (9, 5, 5, ""),
    (5, 7, 7, ""),
    (12, 4, 3, "saturated hidden layer"),
    (8, 3, 5, "saturated hidden layer"),
    (9, 3, 2, "learnrate 1"),
]
# Saturated hidden units: input-to-hidden weights this many times larger than the course's
# initialisation, so most hidden inputs sit far from 0.
SATURATION_SCALE = 10.0


def public_inputs() -> dict:
    """The demo cell's values."""
    return {
        "features": np.array([[0.5, 0.1, -0.2], [-0.3, 0.8, 0.4], [0.9, -0.5, 0.1], [0.2, 0.3, -0.7]]),
        "targets": np.array([1, 0, 1, 0]),
        "weights_input_hidden": np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]),
        "weights_hidden_output": np.array([0.1, -0.3]),
        "learnrate": 0.5,
    }


def arguments(reference, inputs: dict) -> dict:
    """The graded function's arguments, by parameter name: fresh copies, since it updates the weights in place."""
    return {
        "features": np.array(inputs["features"], dtype=float),
        "targets": np.array(inputs["targets"]),
        "weights_input_hidden": np.array(inputs["weights_input_hidden"], dtype=float),
        "weights_hidden_output": np.array(inputs["weights_hidden_output"], dtype=float),
        "learnrate": inputs["learnrate"],
    }


def hidden_inputs(rng: np.random.Generator, count: int, reference) -> list[tuple[str, dict]]:
    """`count` labelled cases; the label describes the inputs, never the expected values."""
    plans = list(EDGE_PLANS)
    while len(plans) < count:
        plans.append((int(rng.integers(2, 31)), int(rng.integers(1, 9)), int(rng.integers(1, 7)), ""))
    return [_draw(rng, *plan) for plan in plans[:count]]


def _draw(rng: np.random.Generator, n_records: int, n_features: int, n_hidden: int, kind: str) -> tuple[str, dict]:
    # The course's initialisation: weights drawn with scale 1/sqrt(number of input features).
    scale = n_features ** -0.5
    hidden_scale = scale * (SATURATION_SCALE if kind == "saturated hidden layer" else 1.0)
    inputs = {
        "features": rng.normal(0.0, 1.0, (n_records, n_features)),
        # Admitted or not, as in the course's data: 0/1 targets.
        "targets": rng.integers(0, 2, n_records),
        "weights_input_hidden": rng.normal(0.0, hidden_scale, (n_features, n_hidden)),
        "weights_hidden_output": rng.normal(0.0, scale, n_hidden),
        "learnrate": 1.0 if kind == "learnrate 1" else float(rng.uniform(0.05, 1.0)),
    }
    label = ", ".join([
        _count(n_records, "record"), _count(n_features, "input feature"), _count(n_hidden, "hidden unit"),
        *([kind] if kind else []),
    ])
    return label, inputs


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
