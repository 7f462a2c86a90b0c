"""An assignment: everything the grader reads from its folder `solutions/<name>/`. The author's contract.

What each file of the folder may contain, and the module that reads it (docs/adding-an-assignment.md
gives every key, the formulas' rules and a worked example):

- `rubric.toml` (loader.py) declares three things, kept apart once read:
  - the grading (rubric.py, `Rubric`): [assignment] title, function, returns, iteration, updates;
    [[steps]] name, points, hint, capture, carried; [tolerance]; [scoring]; [words]; [cases] hidden;
  - where the folder's files are (layout.py, `Layout`): [assignment] notebook, [cases] module,
    [feedback] misconceptions and oracle;
  - the run's defaults (settings.py, `RunSettings`): [cases] seed and [limits], which `--seed` and
    `--timeout` override for one run without changing the rubric.
- the reference notebook (reference.py, `Reference`): run top to bottom in the grader's process; it
  defines the graded function, whose code gives each step's formula (source.py), and its answer lines
  are marked `# SOLUTION` or inside `# BEGIN SOLUTION` / `# END SOLUTION` (stub.py strips them).
- the case module (modules.py, cases.py): `public_inputs()`, `hidden_inputs(rng, count, reference)`,
  `arguments(reference, inputs)`; the grader runs the reference on each case for the expected values.
- the misconception catalogue (catalogue.py, `Catalogue`), optional: [[misconception]] tables of
  name, step, formula (or a list of them), explanation, hint.
- the oracle (oracle.py, `Oracle`), optional: `values(reference, inputs)`, `NAME`, `WHAT` and
  `DIRECTIONAL`, checked against the reference on every case.

From these the grader makes the student's files (stub.py: the stub notebook; public_case.py: the
public case of the self-check) and checks a whole folder with one line per problem (validate.py).
Everything here is instructor code and runs in the grader's own process, which never runs student code.
Importing this package loads no numpy (a re-grade served from the cache needs none): the oracle
(`grader.assignment.oracle`) and the cases (`grader.assignment.cases`) are imported by what uses them, and
an assignment's reference is run when first asked for (`Assignment.reference`).
"""

from grader.assignment.catalogue import Catalogue, Misconception
from grader.assignment.layout import Layout
from grader.assignment.loader import RUBRIC, Assignment, RubricFile, available, load, load_rubric
from grader.assignment.modules import load_module
from grader.assignment.reference import Reference
from grader.assignment.rubric import Rubric
from grader.assignment.settings import DEFAULT_LIMITS, RunSettings, limits_within
from grader.assignment.source import compile_formula

__all__ = ["DEFAULT_LIMITS", "RUBRIC", "Assignment", "Catalogue", "Layout", "Misconception", "Reference",
           "Rubric", "RubricFile", "RunSettings", "available", "compile_formula", "limits_within", "load", "load_module",
           "load_rubric"]
