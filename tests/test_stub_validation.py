"""`grade-stub` checks the whole assignment folder first: one line naming the file and the problem, exit 2, nothing written.

Each case copies backward_pass's folder as shipped, breaks one thing in one file, and runs the
real `grade-stub` (and `grade-stub --check`) on it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grader.cli import make_stub
from tests.conftest import CLEAN_ENV
from tests.notebooks import SOLUTIONS

NAME = "backward_pass"
NOTEBOOK = "backward_pass.ipynb"


def _replace(file: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    """An edit of one file of the folder: `old` (which must be there) becomes `new`."""
    def edit(folder: Path) -> None:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")
    return edit


def _both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for one in edits:
            one(folder)
    return edit


def _append(file: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with (folder / file).open("a", encoding="utf-8") as handle:
            handle.write(text)
    return edit


def _code(old: str, new: str) -> Callable[[Path], None]:
    """An edit of the reference notebook's code cells, through nbformat."""
    def edit(folder: Path) -> None:
        node = nbformat.read(folder / NOTEBOOK, as_version=4)
        sources = [cell for cell in node.cells if cell.cell_type == "code" and old in cell.source]
        assert sources, old
        sources[0].source = sources[0].source.replace(old, new, 1)
        nbformat.write(node, folder / NOTEBOOK)
    return edit


def _write(file: str, text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / file).write_text(text, encoding="utf-8")
    return edit


# Whatever the oracle's function is called, it now returns the opposite of every value.
_NEGATED_ORACLE = """
for _name in ("values", "deltas"):
    if callable(globals().get(_name)):
        _original = globals()[_name]
        globals()[_name] = lambda reference, inputs, _f=_original: {k: -v for k, v in _f(reference, inputs).items()}
"""

# (id, edit, the file the message must name, what it must say)
BROKEN = [
    ("rubric-toml-syntax", _append("rubric.toml", "\n[[steps]\n"), "rubric.toml", "cannot be read"),
    ("rubric-unknown-key", _replace("rubric.toml", 'title = "', 'titel = "x"\ntitle = "'), "rubric.toml", "unknown key(s) titel"),
    ("rubric-unknown-table", _append("rubric.toml", "\n[scorings]\nx = 1\n"), "rubric.toml", "unknown table(s) scorings"),
    ("rubric-missing-key", _replace("rubric.toml", 'function = "backward_pass"\n', ""), "rubric.toml",
     "[assignment] is missing the required key(s) function"),
    ("rubric-misspelt-table", _replace("rubric.toml", "[tolerance]\n", "[tolerances]\n"), "rubric.toml",
     "unknown table(s) tolerances"),
    ("rubric-missing-table", _both(_replace("rubric.toml", "[tolerance]\n", ""), _replace("rubric.toml", "rtol = 1e-3\n", ""),
                                   _replace("rubric.toml", "atol = 1e-7\n", "")), "rubric.toml",
     "missing the required table(s) tolerance"),
    ("rubric-bad-type", _replace("rubric.toml", "seed = 20261127", 'seed = "twenty"'), "rubric.toml",
     "[cases] seed must be an integer"),
    ("step-bad-points", _replace("rubric.toml", "points = 2", 'points = "two"'), "rubric.toml",
     "[[steps]] number 2 points must be a number"),
    ("step-unknown-key", _replace("rubric.toml", "points = 2", "points = 2\npoint = 2"), "rubric.toml",
     "[[steps]] number 2 has unknown key(s) point"),
    ("step-name-twice", _replace("rubric.toml", 'name = "output_error_term"', 'name = "error"'), "rubric.toml",
     "step name(s) used twice: error"),
    ("returned-not-a-step", _replace("rubric.toml", '"delta_w_i_h"]', '"delta_w_ih"]'), "rubric.toml",
     "returns names delta_w_ih, not a step"),
    ("notebook-missing", _replace("rubric.toml", 'notebook = "backward_pass.ipynb"', 'notebook = "bp.ipynb"'),
     "rubric.toml", "names bp.ipynb, which is not a file"),
    ("notebook-not-json", _write(NOTEBOOK, '{"cells": ['), NOTEBOOK, "not valid JSON"),
    ("notebook-syntax-error", _code("def sigmoid(x):", "def sigmoid(x)"), NOTEBOOK, "is not Python"),
    ("function-not-defined", _code("def backward_pass(", "def backwards_pass("), NOTEBOOK,
     "defines no function backward_pass()"),
    ("reference-fails-in-a-cell", _code("print(delta_w_h_o)", "print(undefined_name)"), NOTEBOOK, "undefined_name"),
    ("step-never-assigned", _replace("rubric.toml", '[[steps]]\nname = "error"',
                                     '[[steps]]\nname = "bogus"\npoints = 1\n\n[[steps]]\nname = "error"'),
     NOTEBOOK, "bogus"),
    ("reference-not-finite",
     _code("error = target - output_layer_out", "error = target - output_layer_out if x.size > 1 else np.nan"),
     NOTEBOOK, "not a finite"),
    ("cases-module-missing", _replace("rubric.toml", 'module = "cases.py"', 'module = "case.py"'), "rubric.toml",
     "names case.py, which is not a file"),
    ("cases-import-fails", _append("cases.py", "\nimport no_such_module_here\n"), "cases.py", "no_such_module_here"),
    ("cases-function-missing", _replace("cases.py", "def hidden_inputs(", "def hidden_input("), "cases.py",
     "does not define hidden_inputs()"),
    ("cases-hidden-raises", _replace("cases.py", "    plans = [", "    raise ValueError('no plans')\n    plans = ["), "cases.py",
     "hidden_inputs() raised ValueError('no plans')"),
    ("cases-hidden-too-few", _replace("cases.py", "plans[:count]]", "plans[:count - 1]]"), "cases.py",
     "hidden_inputs() must return a list of 40"),
    ("cases-argument-missing", _replace("cases.py", '        "learnrate": inputs["learnrate"],\n', ""), "cases.py",
     "arguments() on the public case gives no value for learnrate"),
    ("catalogue-toml-syntax", _append("misconceptions.toml", "\n[[misconception]\n"), "misconceptions.toml",
     "cannot read"),
    ("catalogue-unknown-step", _replace("misconceptions.toml", 'step = "error"', 'step = "eror"'), "misconceptions.toml",
     "'eror' is not a step"),
    ("catalogue-unknown-name", _replace("misconceptions.toml", 'formula = "output_layer_out - target"',
                                        'formula = "output_layer_output - target"'), "misconceptions.toml",
     "output_layer_output"),
    ("catalogue-missing-file", _replace("rubric.toml", 'misconceptions = "misconceptions.toml"',
                                        'misconceptions = "mistakes.toml"'), "rubric.toml", "names mistakes.toml"),
    ("oracle-import-fails", _append("oracle.py", "\nraise RuntimeError('oracle broken')\n"), "oracle.py", "oracle broken"),
    ("oracle-disagrees", _append("oracle.py", _NEGATED_ORACLE), "oracle.py", "disagree"),
]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A copy of backward_pass's solutions folder, and an empty assignments folder next to it."""
    shutil.copytree(SOLUTIONS / NAME, tmp_path / "solutions" / NAME)
    (tmp_path / "assignments").mkdir()
    return tmp_path


def _stub(root: Path, *options: str):
    return CliRunner().invoke(make_stub, ["--solutions", str(root / "solutions"), "--assignments",
                                          str(root / "assignments"), *options], env=CLEAN_ENV)


def test_the_shipped_folder_is_valid(folder):
    """The copy as shipped passes every check and is written (so each failure below is its one edit's)."""
    result = _stub(folder)
    assert result.exit_code == 0, result.output
    assert (folder / "assignments" / NAME / NOTEBOOK).is_file()


@pytest.mark.parametrize(("edit", "file", "problem"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
@pytest.mark.parametrize("check", [False, True], ids=["write", "check"])
def test_a_broken_folder_is_named_in_one_line(folder, edit, file, problem, check):
    """Validation runs before generation in both modes: exit 2, one line naming the file and the problem, no file written."""
    edit(folder / "solutions" / NAME)
    result = _stub(folder, *(["--check"] if check else []))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert re.search(rf"{re.escape(NAME)}/{re.escape(file)}\b", lines[0]), lines[0]
    assert problem in lines[0], lines[0]
    assert list((folder / "assignments").iterdir()) == []
