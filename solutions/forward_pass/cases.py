"""Cases of the forward_pass assignment: inputs only.

The grader builds the graded function's arguments with `arguments` and computes every
expected value itself by running the reference notebook on them.
"""

import numpy as np

# Shapes (n_input, n_hidden, n_output) every hidden set contains, whatever the seed; n_output
# None means a single output unit whose weights are a flat vector (as in the backward pass).
# Square and non-square pairs both appear: a transposed matrix or a dot product in the wrong
# order only runs on a square one, and gives other numbers there.
EDGE_SHAPES = [
    (1, 1, None), (1, 4, None), (5, 1, None), (3, 3, None), (6, 6, None), (10, 8, None),
    (4, 3, 2), (2, 7, 1), (8, 2, 3), (3, 3, 3), (1, 1, 1), (5, 5, 2),
]


def public_inputs() -> dict:
    """The demo cell's values (4 inputs, 3 hidden units, 2 output units), whose outputs the course publishes."""
    return {
        "x": np.array([0.49671415, -0.1382643, 0.64768854, 1.52302986]),
        "weights_input_to_hidden": np.array([
            [-0.02341534, -0.0234137, 0.15792128],
            [0.07674347, -0.04694744, 0.054256],
            [-0.04634177, -0.04657298, 0.02419623],
            [-0.19132802, -0.17249178, -0.05622875],
        ]),
        "weights_hidden_to_output": np.array([
            [-0.10128311, 0.03142473],
            [-0.09080241, -0.14123037],
            [0.14656488, -0.02257763],
        ]),
    }


def arguments(reference, inputs: dict) -> dict:
    """The graded function's arguments, by parameter name, from a case's inputs."""
    return {
        "x": inputs["x"],
        "weights_input_to_hidden": inputs["weights_input_to_hidden"],
        "weights_hidden_to_output": inputs["weights_hidden_to_output"],
    }


def hidden_inputs(rng: np.random.Generator, count: int, reference) -> list[tuple[str, dict]]:
    """`count` labelled cases; the label describes the inputs, never the expected values."""
    plans = [(*shape, "") for shape in EDGE_SHAPES]
    plans += [(4, 3, None, "large weights"), (3, 5, 2, "large weights"), (7, 7, None, "large weights")]
    while len(plans) < count:
        # Mostly weight matrices: with a flat weight vector, a dot product in the wrong order
        # gives the same number and cannot be told apart.
        n_output = int(rng.integers(1, 4)) if rng.random() < 0.8 else None
        plans.append((int(rng.integers(1, 11)), int(rng.integers(1, 9)), n_output, ""))
    return [_draw(rng, *plan) for plan in plans[:count]]


def _draw(rng, n_input: int, n_hidden: int, n_output: int | None, kind: str) -> tuple[str, dict]:
    # Large weights push units towards saturation, where the sigmoid is nearly flat: a sigmoid
    # applied twice or not at all still shows, and float32 still passes.
    scale = 4.0 if kind == "large weights" else 1.0
    output_shape = (n_hidden,) if n_output is None else (n_hidden, n_output)
    inputs = {
        "x": rng.uniform(-1.0, 1.0, n_input),
        "weights_input_to_hidden": rng.normal(0.0, scale, (n_input, n_hidden)),
        "weights_hidden_to_output": rng.normal(0.0, scale, output_shape),
    }
    outputs = "1 output unit (weight vector)" if n_output is None else _count(n_output, "output unit")
    label = f"{_count(n_input, 'input')}, {_count(n_hidden, 'hidden unit')}, {outputs}"
    if n_input == n_hidden:
        label += " (square)"
    return (f"{label}, {kind}" if kind else label), inputs


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number > 1 else ''}"
