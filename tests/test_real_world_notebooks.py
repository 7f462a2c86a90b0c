"""Correct notebooks as real students hand them in: Colab, VS Code, Kaggle, JupyterLab, odd files.

Every notebook here holds a correct backward_pass; each must be graded 10/10 with status
`graded` and no diagnosis. All of them are graded in one `grade` call; the last tests hold the
grader to problems a review of such notebooks found.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import nbformat
import pytest

from tests.conftest import invoke_grade
from tests.notebooks import REFERENCE_BODY, reference_body, student_notebook, write


def _with_function_cell(node: nbformat.NotebookNode, prefix: str = "", suffix: str = "") -> nbformat.NotebookNode:
    """The notebook with text added before and after the cell that defines backward_pass."""
    for cell in node.cells:
        if cell.cell_type == "code" and "def backward_pass(" in cell.source:
            cell.source = prefix + cell.source + suffix
    return node


def _tabs(node: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with every code cell indented with tabs."""
    for cell in node.cells:
        if cell.cell_type == "code":
            cell.source = cell.source.replace("    ", "\t")
    return node


def _as_dict(node: nbformat.NotebookNode) -> dict:
    data = json.loads(nbformat.writes(node))
    for cell in data["cells"]:
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return data


def _write_json(data: dict, path: Path, *, newline: str = "\n", bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False).replace("\n", newline)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def _colab(folder: Path) -> None:
    node = student_notebook(helper_cells=[
        '#@title Setup { display-mode: "form" }\nfrom google.colab import drive\ndrive.mount("/content/drive")\n',
        "!pip install numpy\n%tensorflow_version 2.x\n",
        'learning_rate = 0.5 #@param {type:"number"}\n',
    ])
    data = _as_dict(node)
    data["metadata"].update({"colab": {"provenance": [], "name": "backward_pass.ipynb"}, "accelerator": "GPU"})
    for cell in data["cells"]:
        cell["metadata"] = {"id": "x1", "colab": {"base_uri": "https://localhost:8080/"}, "outputId": "y"}
    _write_json(data, folder / "colab.ipynb")


def _vscode(folder: Path) -> None:
    node = student_notebook()
    for cell in node.cells:
        if cell.cell_type == "code":
            cell.source = "#%%\n" + cell.source + "\n# %% [markdown]\n"
    data = _as_dict(node)
    data["metadata"]["vscode"] = {"interpreter": {"hash": "abc"}}
    _write_json(data, folder / "vscode.ipynb")


def _jupyterlab4(folder: Path) -> None:
    data = _as_dict(student_notebook())
    data["nbformat_minor"] = 5
    for number, cell in enumerate(data["cells"]):
        cell["id"] = f"cell-{number}"
        cell["metadata"] = {"collapsed": True, "jupyter": {"source_hidden": True}, "tags": ["graded"]}
        if cell["cell_type"] == "markdown":
            cell["attachments"] = {"image.png": {"image/png": "iVBORw0KGgo="}}
        else:
            cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "m1"}}}]
    data["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    _write_json(data, folder / "jupyterlab4.ipynb")


def _crlf_bom_lists(folder: Path) -> None:
    data = _as_dict(student_notebook())
    for cell in data["cells"]:
        cell["source"] = cell["source"].replace("\n", "\r\n").splitlines(True)
    _write_json(data, folder / "crlf_bom.ipynb", newline="\r\n", bom=True)


UNICODE_BODY = """
# Calcul de l'erreur: é, 中文 注释, emoji 🚀
erreur_é = target - output_layer_out
error = erreur_é
output_error_term = error * output_layer_out * (1 - output_layer_out)  # δ^o
隐藏 = np.dot(output_error_term, weights_hidden_to_output)
hidden_error = 隐藏
hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = learnrate * output_error_term * hidden_layer_out
delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
print(f"Δ = {delta_w_h_o} ✅")
return (delta_w_h_o, delta_w_i_h,)
"""

TRAINING_LOOP = """
import time
rng = np.random.default_rng(0)
w_i_h, w_h_o = rng.normal(size=(3, 2)), rng.normal(size=2)
started = time.time()
while time.time() - started < 3:
    h, o = forward_pass(np.array([0.5, 0.1, -0.2]), w_i_h, w_h_o)
    d_h_o, d_i_h = backward_pass(np.array([0.5, 0.1, -0.2]), 0.6, 0.5, h, o, w_h_o)
    w_h_o += d_h_o
    w_i_h += d_i_h
"""

PURE_PYTHON = """
error = float(target) - float(output_layer_out)
output_error_term = error * float(output_layer_out) * (1 - float(output_layer_out))
hidden_error = [output_error_term * float(w) for w in weights_hidden_to_output]
hidden_error_term = [e * float(h) * (1 - float(h)) for e, h in zip(hidden_error, hidden_layer_out)]
delta_w_h_o = [learnrate * output_error_term * float(h) for h in hidden_layer_out]
delta_w_i_h = [[learnrate * float(xi) * t for t in hidden_error_term] for xi in x]
return delta_w_h_o, delta_w_i_h
"""

HINTED = ("def backward_pass(x: NDArray, target: float, learnrate: float, hidden_layer_out: NDArray, "
          "output_layer_out: float, weights_hidden_to_output: NDArray) -> tuple[NDArray, NDArray]:")

# Correct notebooks of every kind, by file name (relative to the graded folder).
CORRECT: dict[str, object] = {
    "kaggle.ipynb": lambda: student_notebook(helper_cells=[
        "import numpy as np # linear algebra\nimport pandas as pd\nimport os\n"
        "for dirname, _, filenames in os.walk('/kaggle/input'):\n    for filename in filenames:\n"
        "        print(os.path.join(dirname, filename))\n",
        "df = pd.read_csv('/kaggle/input/data/train.csv')\n"]),
    "unicode_identifiers.ipynb": lambda: student_notebook(UNICODE_BODY),
    "tabs.ipynb": lambda: _tabs(student_notebook()),
    "future_annotations.ipynb": lambda: student_notebook(signature=HINTED, helper_cells=[
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from numpy.typing import NDArray\n"]),
    "time_cell_magic.ipynb": lambda: _with_function_cell(student_notebook(), prefix="%%time\n"),
    "magics_around.ipynb": lambda: _with_function_cell(
        student_notebook(helper_cells=["%load_ext autoreload\n%autoreload 2\n?np.dot\nnp.outer?\n"]),
        prefix="%matplotlib inline\n", suffix="\nbackward_pass?\n"),
    "stray_earlier_def.ipynb": lambda: student_notebook(helper_cells=["def backward_pass(*args):\n    pass\n"]),
    "training_loop_3s.ipynb": lambda: student_notebook(extra_cells=[TRAINING_LOOP]),
    "input_and_missing_modules.ipynb": lambda: student_notebook(
        helper_cells=["name = input('Your name: ')\nfrom tqdm import tqdm\n"],
        extra_cells=["import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n",
                     "print(f'{delta_w_h_o=}')\ndisplay(delta_w_i_h)\n"]),
    "import_numpy_plain.ipynb": lambda: student_notebook(REFERENCE_BODY.replace("np.", "numpy."),
                                                         helper_cells=["import numpy\n"]),
    "from_numpy_import.ipynb": lambda: student_notebook(
        REFERENCE_BODY.replace("np.dot", "dot").replace("np.outer", "outer"),
        helper_cells=["from numpy import dot, outer\n"]),
    "reshape_matmul.ipynb": lambda: student_notebook(reference_body(
        delta_w_i_h="learnrate * x.reshape(-1, 1) @ hidden_error_term.reshape(1, -1)")),
    "atleast_2d.ipynb": lambda: student_notebook(reference_body(
        delta_w_i_h="learnrate * np.matmul(np.atleast_2d(x).T, np.atleast_2d(hidden_error_term))")),
    "pure_python.ipynb": lambda: student_notebook(PURE_PYTHON),
    "returns_np_array.ipynb": lambda: student_notebook(REFERENCE_BODY.replace(
        "return delta_w_h_o, delta_w_i_h", "return np.array(delta_w_h_o), np.array(delta_w_i_h)")),
    "no_demo_no_forward.ipynb": lambda: nbformat.v4.new_notebook(cells=[
        c for c in student_notebook(demo=False).cells
        if not (c.cell_type == "code" and ("def forward_pass" in c.source or "def sigmoid" in c.source))]),
    "Élève Zoë 中文/backward_pass.ipynb": lambda: student_notebook(),
    "file with spaces (1).ipynb": lambda: student_notebook(),
    # The course's NumPy-1-era spellings, removed in NumPy 2.
    "numpy_1_names.ipynb": lambda: student_notebook(reference_body(
        error="np.float_(target) - output_layer_out",
        delta_w_i_h="learnrate * np.asarray(np.mat(np.asfarray(x)).T * np.mat(hidden_error_term))")),
}
WRITERS = {"colab.ipynb": _colab, "vscode.ipynb": _vscode, "jupyterlab4.ipynb": _jupyterlab4,
           "crlf_bom.ipynb": _crlf_bom_lists}

# Correct notebooks a review found the grader getting wrong (fixed, tested below).
PIP_BACKSLASH = "!pip install -q \\\n    numpy\n"
PERCENT_CONTINUATION = reference_body().replace(
    "return", 'print("error: %.4f"\n      % error)\nreturn')
WRITEFILE = "%%writefile helpers.py\ndef sigmoid_prime_out(o):\n    return o * (1 - o)\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every notebook of this module graded in one call: rows by path relative to the folder."""
    folder = tmp_path_factory.mktemp("real world")
    for name, build in CORRECT.items():
        write(build(), folder / name)
    for writer in WRITERS.values():
        writer(folder)
    # Known problems.
    write(student_notebook(), folder / "UPPER_CASE.IPYNB")
    write(_with_function_cell(student_notebook(), prefix=PIP_BACKSLASH), folder / "pip_backslash.ipynb")
    write(_with_function_cell(student_notebook(PERCENT_CONTINUATION), prefix="%matplotlib inline\n"),
          folder / "percent_continuation.ipynb")
    write(student_notebook(reference_body(output_error_term="error * sigmoid_prime_out(output_layer_out)"),
                           helper_cells=[WRITEFILE, "from helpers import sigmoid_prime_out\n"]),
          folder / "writefile_helper.ipynb")
    # A macOS AppleDouble companion and a stale Jupyter atomic-save copy next to real submissions.
    write(student_notebook(), folder / "alice" / "backward_pass.ipynb")
    (folder / "alice" / "._backward_pass.ipynb").write_bytes(struct.pack(">II", 0x00051607, 0x00020000)
                                                              + b"Mac OS X        " + b"\0" * 64)
    write(student_notebook(), folder / "bob" / "backward_pass.ipynb")
    write(student_notebook("return None, None\n"), folder / "bob" / ".~backward_pass.ipynb")
    run = invoke_grade(folder)
    assert run.exit_code == 0, run.stderr
    assert run.doc is not None, run.stderr
    return {str(Path(row["submission"]).relative_to(folder)): row for row in run.doc["submissions"]}


def _assert_full_marks(row: dict) -> None:
    summary = (row["status"], row["score"], row["diagnoses"], row["messages"][:3])
    assert row["status"] == "graded", summary
    assert row["score"] == row["max_score"] == 10, summary
    assert row["diagnoses"] == [], summary
    assert all(step["status"] == "pass" for step in row["steps"]), summary


@pytest.mark.parametrize("name", sorted([*CORRECT, *WRITERS]))
def test_real_world_correct_notebook_gets_full_marks(graded: dict[str, dict], name: str) -> None:
    assert name in graded, sorted(graded)
    _assert_full_marks(graded[name])


def test_slow_training_loop_is_a_warning(graded: dict[str, dict]) -> None:
    messages = " ".join(graded["training_loop_3s.ipynb"]["messages"])
    assert "stopped after" in messages


def test_upper_case_extension_is_found(graded: dict[str, dict]) -> None:
    assert "UPPER_CASE.IPYNB" in graded, sorted(graded)
    _assert_full_marks(graded["UPPER_CASE.IPYNB"])


def test_backslash_continued_shell_command_in_the_function_cell(graded: dict[str, dict]) -> None:
    _assert_full_marks(graded["pip_backslash.ipynb"])


def test_python_continuation_line_starting_with_percent_in_a_cell_with_a_magic(graded: dict[str, dict]) -> None:
    _assert_full_marks(graded["percent_continuation.ipynb"])


def test_writefile_helper_module(graded: dict[str, dict]) -> None:
    _assert_full_marks(graded["writefile_helper.ipynb"])


def test_hidden_files_are_not_extra_rows_for_the_student(graded: dict[str, dict]) -> None:
    rows = [name for name in graded if name.split("/")[0] in ("alice", "bob")]
    assert sorted(rows) == ["alice/backward_pass.ipynb", "bob/backward_pass.ipynb"], rows
