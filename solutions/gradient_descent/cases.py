"""Cases of the gradient_descent assignment: inputs only.

The grader builds the graded function's arguments with `arguments` and computes every
expected value itself by running the reference notebook on them.
"""

import numpy as np

# Sizes (n_records, n_features) every hidden set contains, whatever the seed: one record
# (nothing to add up, nothing to average), one feature, a square set (records and features
# as many: a mean over the wrong axis only shows elsewhere), many records.
EDGE_SIZES = [(1, 3), (1, 1), (5, 1), (4, 3), (3, 3), (6, 2), (2, 6), (10, 4), (50, 3), (200, 6)]
# Largest |x . w| of a saturated case: the outputs' derivatives fall to about 0.0025 yet stay
# well within float32's reach at the rubric's tolerance.
SATURATED = 6.0


def public_inputs() -> dict:
    """The demo cell's values: 4 records of 3 features."""
    return {
        "features": np.array([[0.5, -0.2, 0.1], [0.1, 0.4, -0.3], [-0.6, 0.3, 0.8], [0.9, -0.7, 0.2]]),
        "targets": np.array([1, 0, 1, 0]),
        "weights": np.array([0.3, -0.1, 0.2]),
        "learnrate": 0.5,
    }


def arguments(reference, inputs: dict) -> dict:
    """The graded function's arguments, by parameter name, from a case's inputs."""
    return {
        "features": inputs["features"],
        "targets": inputs["targets"],
        "weights": inputs["weights"],
        "learnrate": inputs["learnrate"],
    }


def hidden_inputs(rng: np.random.Generator, count: int, reference) -> list[tuple[str, dict]]:
    """`count` labelled cases; the label describes the inputs, never the expected values."""
    plans = [(n_records, n_features, "") for n_records, n_features in EDGE_SIZES]
    plans += [(8, 3, "saturated outputs"), (1, 4, "saturated outputs"), (20, 5, "saturated outputs")]
    plans += [(4, 3, "learnrate 1"), (12, 2, "learnrate 1"), (6, 4, "targets between 0 and 1")]
    while len(plans) < count:
        plans.append((int(rng.integers(1, 31)), int(rng.integers(1, 9)), ""))
    return [_draw(rng, *plan) for plan in plans[:count]]


def _draw(rng, n_records: int, n_features: int, kind: str) -> tuple[str, dict]:
    features = rng.uniform(-1.0, 1.0, (n_records, n_features))
    # Weights drawn as the course initialises them: normal with scale 1/sqrt(n_features).
    weights = rng.normal(0.0, n_features ** -0.5, n_features)
    if kind == "saturated outputs":
        weights *= SATURATED / max(float(np.abs(features @ weights).max()), 1e-3)
    # Targets are 0/1 labels, as in the course's admissions data, unless the case says otherwise.
    binary = kind != "targets between 0 and 1"
    targets = rng.integers(0, 2, n_records) if binary else rng.uniform(0.0, 1.0, n_records)
    inputs = {
        "features": features,
        "targets": targets,
        "weights": weights,
        "learnrate": 1.0 if kind == "learnrate 1" else float(rng.uniform(0.05, 1.0)),
    }
    label = f"{_count(n_records, 'record')} of {_count(n_features, 'feature')}"
    if n_records == n_features:
        label += " (square)"
    return (f"{label}, {kind}" if kind else label), inputs


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number > 1 else ''}"
