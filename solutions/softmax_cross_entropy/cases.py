"""Cases of the softmax_cross_entropy assignment: inputs only.

The grader builds the graded function's arguments with `arguments` and computes every
expected value itself by running the reference notebook on them.
"""

import numpy as np

# Sizes (n_features, n_classes) every hidden set contains, whatever the seed: two classes (the
# smallest softmax), one feature, square weights (features and classes as many: a transposed
# product or gradient only shows elsewhere), many classes, many features.
EDGE_SIZES = [(3, 2), (1, 3), (1, 2), (3, 3), (4, 4), (2, 5), (5, 2), (6, 10), (10, 3), (4, 7)]
# Largest spread of a case's logits: probabilities stay above about 1e-4, within float32's
# reach at the rubric's tolerance, while one class clearly dominates.
CONFIDENT = 8.0


def public_inputs() -> dict:
    """The demo cell's values: one record of 3 features, 4 classes, target class 3."""
    return {
        "x": np.array([0.5, -0.2, 0.1]),
        "weights": np.array([[0.3, -0.1, 0.2, 0.1], [-0.4, 0.2, 0.1, 0.3], [0.1, 0.5, -0.3, 0.2]]),
        "target": np.array([0.0, 0.0, 1.0, 0.0]),
    }


def arguments(reference, inputs: dict) -> dict:
    """The graded function's arguments, by parameter name, from a case's inputs."""
    return {"x": inputs["x"], "weights": inputs["weights"], "target": inputs["target"]}


def hidden_inputs(rng: np.random.Generator, count: int, reference) -> list[tuple[str, dict]]:
    """`count` labelled cases; the label describes the inputs, never the expected values."""
    plans = [(n_features, n_classes, "") for n_features, n_classes in EDGE_SIZES]
    plans += [(3, 4, "confident network"), (2, 3, "confident network"), (5, 6, "confident network")]
    while len(plans) < count:
        plans.append((int(rng.integers(1, 9)), int(rng.integers(2, 9)), ""))
    return [_draw(rng, *plan) for plan in plans[:count]]


def _draw(rng, n_features: int, n_classes: int, kind: str) -> tuple[str, dict]:
    x = rng.uniform(-1.0, 1.0, n_features)
    # Weights drawn as the course initialises them: normal with scale 1/sqrt(n_features).
    weights = rng.normal(0.0, n_features ** -0.5, (n_features, n_classes))
    if kind == "confident network":
        logits = x @ weights
        weights *= CONFIDENT / max(float(np.ptp(logits)), 1e-3)
    target = np.zeros(n_classes)
    target[int(rng.integers(0, n_classes))] = 1.0
    label = f"{_count(n_features, 'feature')}, {_count(n_classes, 'class')}"
    if n_features == n_classes:
        label += " (square weights)"
    return (f"{label}, {kind}" if kind else label), {"x": x, "weights": weights, "target": target}


def _count(number: int, noun: str) -> str:
    plural = "es" if noun.endswith("s") else "s"
    return f"{number} {noun}{plural if number > 1 else ''}"
