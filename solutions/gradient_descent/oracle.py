"""An oracle for the gradient_descent epoch that shares no formula with the reference.

The weights after the epoch are weights - learnrate * dE/dw, with E the mean squared error
over the records, E = 1/(2m) Σ (y − sigmoid(x · w))², its derivative taken by central finite
differences: no error term, no sigmoid derivative, no loop over records adding changes up.
The grader checks it agrees with the reference on every case.
"""

import numpy as np

NAME = "Gradient check (finite differences of E = 1/(2m) Σ (y − output)²)"
WHAT = "the weights after one gradient-descent step"
# The returned value is the new weights, not the step itself: "opposite" or "uphill" would
# compare weights with weights, so only "off by a constant factor" is offered.
DIRECTIONAL = False
# Central differences err by O(STEP²) from truncation and by O(1e-16 / STEP) from rounding;
# 1e-6 keeps both far below the grader's tolerance.
STEP = 1e-6


def values(reference, inputs: dict) -> dict:
    """The weights after one epoch, by name of the returned value."""
    features = np.asarray(inputs["features"], dtype=np.float64)
    targets = np.asarray(inputs["targets"], dtype=np.float64)
    weights = np.asarray(inputs["weights"], dtype=np.float64)

    def loss(candidate: np.ndarray) -> float:
        outputs = reference.sigmoid(features @ candidate)
        return float(np.mean((targets - outputs) ** 2) / 2)

    slope = np.zeros_like(weights)
    for index in np.ndindex(weights.shape):
        up, down = weights.copy(), weights.copy()
        up[index] += STEP
        down[index] -= STEP
        slope[index] = (loss(up) - loss(down)) / (2 * STEP)
    return {"new_weights": weights - inputs["learnrate"] * slope}
