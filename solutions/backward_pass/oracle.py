"""An oracle for the backward_pass deltas that shares no formula with the reference.

Each delta is one gradient-descent step, -learnrate * dE/dw, with the derivative of the loss
E = 1/2 (target - output)^2 taken by central finite differences through the reference's
forward_pass. The grader checks it agrees with the reference on every case, then uses it to
tell a student whose deltas point uphill or are off by a constant factor.
"""

import numpy as np

# The words the grader's sentences use: "Gradient check (...): your delta_w_h_o is 0.5 times the gradient-descent step".
NAME = "Gradient check (finite differences of E = ½(target − output)²)"
WHAT = "the gradient-descent step"
# The deltas are a step: "opposite" and "uphill" mean something for them.
DIRECTIONAL = True
# Central differences err by O(STEP²) from truncation and by O(1e-16 / STEP) from rounding;
# 1e-6 keeps both far below the grader's tolerance (atol 1e-8).
STEP = 1e-6


def values(reference, inputs: dict) -> dict:
    """The gradient-descent step for each weight matrix, by name of the returned value."""
    x, target = inputs["x"], inputs["target"]
    weights_input_to_hidden = np.array(inputs["weights_input_to_hidden"], dtype=np.float64)
    weights_hidden_to_output = np.array(inputs["weights_hidden_to_output"], dtype=np.float64)

    def loss(w_i_h, w_h_o):
        _, output = reference.forward_pass(x, w_i_h, w_h_o)
        return 0.5 * (target - output) ** 2

    def gradient(weights, loss_of):
        slope = np.zeros_like(weights)
        for index in np.ndindex(weights.shape):
            up, down = weights.copy(), weights.copy()
            up[index] += STEP
            down[index] -= STEP
            slope[index] = (loss_of(up) - loss_of(down)) / (2 * STEP)
        return slope

    learnrate = inputs["learnrate"]
    return {
        "delta_w_h_o": -learnrate * gradient(weights_hidden_to_output, lambda w: loss(weights_input_to_hidden, w)),
        "delta_w_i_h": -learnrate * gradient(weights_input_to_hidden, lambda w: loss(w, weights_hidden_to_output)),
    }
