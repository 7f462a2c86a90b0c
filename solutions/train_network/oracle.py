"""An oracle for the train_network epoch that shares no formula with the reference.

The weights after one epoch are one gradient-descent step on the mean squared error over the
records, E = 1/2 mean (y - output)^2: W - learnrate * dE/dW for each weight matrix. The
derivative is taken by central finite differences through a forward pass written here, for
all records at once and with the sigmoid written through tanh, so no line of the reference's
loop is reused. The reference updates its argument arrays in place; this module only reads
the case's inputs and works on its own copies.
"""

import numpy as np

NAME = "Gradient check (finite differences of E = ½ mean (y − output)² over the records)"
WHAT = "the weights after one gradient-descent step"
# The returned values are weights, not steps: "opposite" or "uphill" would compare weights
# with weights, which says nothing about the direction of the update.
DIRECTIONAL = False
# Central differences err by O(STEP²) from truncation and by O(1e-16 / STEP) from rounding;
# 1e-6 keeps both far below the rubric's tolerance.
STEP = 1e-6


def values(reference, inputs: dict) -> dict:
    """The weights after one gradient-descent step, by name of the returned value."""
    features = np.array(inputs["features"], dtype=np.float64)
    targets = np.array(inputs["targets"], dtype=np.float64)
    first = np.array(inputs["weights_input_hidden"], dtype=np.float64)
    second = np.array(inputs["weights_hidden_output"], dtype=np.float64)
    learnrate = float(inputs["learnrate"])

    def loss(w_first: np.ndarray, w_second: np.ndarray) -> float:
        hidden = 0.5 * (1.0 + np.tanh(0.5 * (features @ w_first)))
        prediction = 0.5 * (1.0 + np.tanh(0.5 * (hidden @ w_second)))
        return 0.5 * float(np.mean((targets - prediction) ** 2))

    def slope(weights: np.ndarray, loss_of) -> np.ndarray:
        result = np.zeros_like(weights)
        for index in np.ndindex(weights.shape):
            up, down = weights.copy(), weights.copy()
            up[index] += STEP
            down[index] -= STEP
            result[index] = (loss_of(up) - loss_of(down)) / (2 * STEP)
        return result

    return {
        "weights_input_hidden": first - learnrate * slope(first, lambda w: loss(w, second)),
        "weights_hidden_output": second - learnrate * slope(second, lambda w: loss(first, w)),
    }
