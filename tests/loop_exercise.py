"""Two loop exercises in the course's style, written into a solutions folder as an instructor would.

`gradient_descent`: one epoch of `update_weights(features, targets, weights, learnrate)`, a loop
over records accumulating `del_w += error_term * x`, returning `new_weights` (one value).
`training_loop`: EPOCHS epochs x records, `del_w` reset each epoch, the weights updated in place.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat import v4

SETUP = '''import numpy as np

def sigmoid(x):
    """Calculate sigmoid"""
    return 1 / (1 + np.exp(-x))
'''

EPOCH_SIGNATURE = "def update_weights(features, targets, weights, learnrate):"
EPOCH_BODY = """
n_records, n_features = features.shape
del_w = np.zeros(weights.shape)
for x, y in zip(features, targets):
    output = sigmoid(np.dot(x, weights))  # SOLUTION
    error = y - output  # SOLUTION
    error_term = error * output * (1 - output)  # SOLUTION
    del_w += error_term * x  # SOLUTION
new_weights = weights + learnrate * del_w / n_records  # SOLUTION
return new_weights
"""

EPOCH_DEMO = """features = np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.5], [-0.7, 0.4, 0.9], [0.2, -0.6, 0.3]])
targets = np.array([1.0, 0.0, 1.0, 0.0])
weights = np.array([0.1, -0.2, 0.05])
print(update_weights(features, targets, weights, 0.5))
"""

EPOCH_RUBRIC = '''[assignment]
title = "Gradient descent: one epoch"
notebook = "gradient_descent.ipynb"
function = "update_weights"
returns = ["new_weights"]
iteration = "record"

[cases]
module = "cases.py"
seed = 7
hidden = 8

[tolerance]
rtol = 1e-3
atol = 1e-7

[[steps]]
name = "output"
points = 1
capture = "iteration"
hint = "The output is the sigmoid of the weighted sum of this record's features."

[[steps]]
name = "error"
points = 1
capture = "iteration"
hint = "How far is this record's target from the output?"

[[steps]]
name = "error_term"
points = 2
capture = "iteration"
hint = "Scale the error by the sigmoid's derivative at this record's output."

[[steps]]
name = "del_w"
points = 2
capture = "iteration"
hint = "Add this record's contribution to what the earlier records gave."

[[steps]]
name = "new_weights"
points = 2
hint = "Move the weights by learnrate times the average step over the records."

[feedback]
misconceptions = "misconceptions.toml"
'''

CASES = '''import numpy as np


def public_inputs():
    return {
        "features": np.array([[0.5, -0.2, 0.1], [0.3, 0.8, -0.5], [-0.7, 0.4, 0.9], [0.2, -0.6, 0.3]]),
        "targets": np.array([1.0, 0.0, 1.0, 0.0]),
        "weights": np.array([0.1, -0.2, 0.05]),
        "learnrate": 0.5,
    }


def arguments(reference, inputs):
    return dict(inputs)


def hidden_inputs(rng, count, reference):
    drawn = []
    for _ in range(count):
        n_records, n_features = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        drawn.append((f"{n_records} records, {n_features} features", {
            "features": rng.normal(0.0, 1.0, (n_records, n_features)),
            "targets": rng.integers(0, 2, n_records).astype(float),
            "weights": rng.normal(0.0, 0.5, n_features),
            "learnrate": float(rng.uniform(0.1, 1.0)),
        }))
    return drawn
'''

EPOCH_MISCONCEPTIONS = '''[[misconception]]
name = "error_sign_flipped"
step = "error"
formula = "output - y"
explanation = "Your error is output minus target: its sign is flipped."
hint = "Which value is the goal?"

[[misconception]]
name = "step_not_accumulated"
step = "del_w"
formula = "error_term * x"
explanation = "Your del_w holds only the current record's step: the earlier records' steps are lost."
hint = "Each record adds to the steps of the records before it."

[[misconception]]
name = "step_subtracted"
step = "del_w"
formula = "del_w - error_term * x"
explanation = "You take each record's step away from del_w instead of adding it."
hint = "Which way does the error term point?"

[[misconception]]
name = "not_averaged"
step = "new_weights"
formula = "weights + learnrate * del_w"
explanation = "You add the summed step without averaging it over the records."
hint = "How many records did del_w add up?"
'''

TRAINING_SIGNATURE = "def train(features, targets, weights, learnrate):"
TRAINING_BODY = """
n_records = features.shape[0]
for e in range(EPOCHS):
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))  # SOLUTION
        error_term = (y - output) * output * (1 - output)  # SOLUTION
        del_w += error_term * x  # SOLUTION
    weights += learnrate * del_w / n_records  # SOLUTION
"""

TRAINING_RUBRIC = '''[assignment]
title = "Training loop"
notebook = "training_loop.ipynb"
function = "train"
returns = []
iteration = ["epoch", "record"]
updates = ["weights"]

[cases]
module = "cases.py"
seed = 11
hidden = 4

[tolerance]
rtol = 1e-3
atol = 1e-7

[[steps]]
name = "output"
points = 1
capture = "iteration"

[[steps]]
name = "error_term"
points = 1
capture = "iteration"

[[steps]]
name = "del_w"
points = 1
capture = "iteration"

[[steps]]
name = "weights"
points = 1
hint = "Update the weights array itself (in place), once per epoch."
'''


def function_source(signature: str, body: str) -> str:
    return f"{signature}\n{textwrap.indent(textwrap.dedent(body).strip(chr(10)), '    ')}\n"


def notebook_with(signature: str, body: str, demo: str = "", setup: str = SETUP) -> nbformat.NotebookNode:
    cells = [v4.new_markdown_cell("# An exercise of the course"), v4.new_code_cell(setup),
             v4.new_code_cell(function_source(signature, body))]
    if demo:
        cells.append(v4.new_code_cell(demo))
    node = v4.new_notebook(cells=cells)
    node.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return node


def write_solutions(root: Path) -> Path:
    """A solutions folder holding both exercises; returns it."""
    epoch = root / "gradient_descent"
    epoch.mkdir(parents=True)
    nbformat.write(notebook_with(EPOCH_SIGNATURE, EPOCH_BODY, EPOCH_DEMO), epoch / "gradient_descent.ipynb")
    (epoch / "rubric.toml").write_text(EPOCH_RUBRIC, encoding="utf-8")
    (epoch / "cases.py").write_text(CASES, encoding="utf-8")
    (epoch / "misconceptions.toml").write_text(EPOCH_MISCONCEPTIONS, encoding="utf-8")
    training = root / "training_loop"
    training.mkdir()
    nbformat.write(notebook_with(TRAINING_SIGNATURE, TRAINING_BODY, setup=SETUP + "\nEPOCHS = 3\n"),
                   training / "training_loop.ipynb")
    (training / "rubric.toml").write_text(TRAINING_RUBRIC, encoding="utf-8")
    (training / "cases.py").write_text(CASES, encoding="utf-8")
    return root


def student(path: Path, signature: str, body: str, setup: str = SETUP) -> Path:
    """A student's notebook with `body` as the graded function's body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook_with(signature, body, setup=setup), path)
    return path
