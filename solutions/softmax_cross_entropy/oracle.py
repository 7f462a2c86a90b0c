"""An oracle for softmax_cross_entropy that shares no formula with the reference.

The loss is the log-sum-exp closed form, E = log Σ_j e^{z_j} − z · t (no probabilities, no
log of a probability); the gradient with respect to the weights is its central finite
difference in each weight (no p − t, no outer product). The grader checks it agrees with the
reference on every case.
"""

import numpy as np

NAME = "Gradient check (finite differences of E = −Σ t log softmax(x · W))"
# The check covers both returned values, the loss and the gradient, and each sentence names
# one of them: WHAT has to fit either.
WHAT = "what the check computes for it"
# DIRECTIONAL holds for every returned value at once, and the loss is a number, not a step:
# "uphill" would be said of it too. Only "off by a constant factor" is offered.
DIRECTIONAL = False
# Central differences err by O(STEP²) from truncation and by O(1e-16 / STEP) from rounding.
STEP = 1e-6


def values(reference, inputs: dict) -> dict:
    """The loss and the gradient with respect to the weights, by name of the returned value."""
    x = np.asarray(inputs["x"], dtype=np.float64)
    weights = np.asarray(inputs["weights"], dtype=np.float64)
    target = np.asarray(inputs["target"], dtype=np.float64)

    def loss(candidate: np.ndarray) -> float:
        logits = x @ candidate
        top = float(logits.max())
        return top + float(np.log(np.exp(logits - top).sum())) - float(logits @ target)

    slope = np.zeros_like(weights)
    for index in np.ndindex(weights.shape):
        up, down = weights.copy(), weights.copy()
        up[index] += STEP
        down[index] -= STEP
        slope[index] = (loss(up) - loss(down)) / (2 * STEP)
    return {"loss": loss(weights), "grad_weights": slope}
