"""An oracle for the forward_pass outputs that shares no formula with the reference.

It walks the network unit by unit with explicit Python loops over plain floats and
math.exp: no numpy product, no numpy sigmoid. The grader checks it agrees with the reference
on every case, then uses it to tell a student whose outputs are off by a constant factor.
"""

import math

import numpy as np

NAME = "Forward pass recomputed unit by unit (explicit loops, math.exp)"
WHAT = "the network's outputs"
# Activations have no direction to go uphill in: only "off by a constant factor" makes sense.
DIRECTIONAL = False


def _activation(total: float) -> float:
    # The two forms keep math.exp from overflowing for large inputs of either sign.
    if total >= 0:
        return 1.0 / (1.0 + math.exp(-total))
    small = math.exp(total)
    return small / (1.0 + small)


def _layer(values: list[float], weights: list[list[float]]) -> list[float]:
    """Each unit's activation: the weighted sum of `values` over the unit's column of `weights`."""
    units = len(weights[0])
    out = []
    for unit in range(units):
        total = 0.0
        for value, row in zip(values, weights):
            total += value * row[unit]
        out.append(_activation(total))
    return out


def values(reference, inputs: dict) -> dict:
    """The hidden layer's and the network's outputs, by name of the returned value."""
    x = [float(value) for value in inputs["x"]]
    input_to_hidden = [[float(w) for w in row] for row in inputs["weights_input_to_hidden"]]
    raw_output_weights = np.asarray(inputs["weights_hidden_to_output"], dtype=np.float64)
    single_output = raw_output_weights.ndim == 1
    hidden_to_output = [[float(w)] for w in raw_output_weights] if single_output else raw_output_weights.tolist()

    hidden = _layer(x, input_to_hidden)
    output = _layer(hidden, hidden_to_output)
    # A flat weight vector means one output unit given as a single number, as np.dot gives it.
    return {
        "hidden_layer_out": np.array(hidden),
        "output_layer_out": np.array(output[0]) if single_output else np.array(output),
    }
