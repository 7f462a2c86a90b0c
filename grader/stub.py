"""Generating the student's stub notebook and public case from the instructor's reference.

Solution markers, as instructors know them from otter-grader and nbgrader:
- a line ending in `# SOLUTION` is an answer line: `name = expression  # SOLUTION` becomes
  `name = None`; `name += expression  # SOLUTION` (or -=) becomes `name += 0  # TODO` and
  `name *= expression` (or /=) `name *= 1  # TODO`, so an accumulating loop still runs and
  accumulates nothing; `return expression  # SOLUTION` becomes `return None`; any other answer
  line becomes `...`;
- lines between `# BEGIN SOLUTION` and `# END SOLUTION` (any number of leading `#`) are
  answers too, replaced the same way, line by line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import nbformat

from grader import notebook, values
from grader.assignment import Assignment, Rubric
from grader.models import Case

PUBLIC_CASE = "public_case.json"
_ANSWER_LINE = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*#+\s*SOLUTION\s*$")
_BEGIN = re.compile(r"^\s*#+\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#+\s*END SOLUTION\s*$")
_ASSIGNMENT = re.compile(r"^(?P<targets>[A-Za-z_][\w\s,]*?)\s*=(?!=)")
_AUGMENTED = re.compile(r"^(?P<target>[A-Za-z_]\w*)\s*(?P<op>\+|-|\*|/)=")
_NEUTRAL = {"+": "0", "-": "0", "*": "1", "/": "1"}
_RETURN = re.compile(r"^return\b")


def strip_solutions(source: str) -> str:
    """A cell's text with every answer replaced by a placeholder."""
    out, inside = [], False
    for line in source.splitlines():
        if _BEGIN.match(line):
            inside = True
            continue
        if _END.match(line):
            inside = False
            continue
        marked = _ANSWER_LINE.match(line)
        if marked:
            out.append(_placeholder(marked.group("indent"), marked.group("code")))
        elif inside:
            if line.strip():
                indent = line[: len(line) - len(line.lstrip())]
                out.append(_placeholder(indent, line.strip()))
        else:
            out.append(line)
    return "\n".join(out)


def _placeholder(indent: str, code: str) -> str:
    augmented = _AUGMENTED.match(code)
    if augmented:
        operator = augmented.group("op")
        return f"{indent}{augmented.group('target')} {operator}= {_NEUTRAL[operator]}  # TODO"
    if _RETURN.match(code):
        return f"{indent}return None"
    assigned = _ASSIGNMENT.match(code)
    if assigned:
        return f"{indent}{assigned.group('targets').strip()} = None"
    return f"{indent}..."


def public_case(assignment: Assignment, cases: list) -> dict:
    """The public case as a self-contained document: enough for a student's self-check."""
    rubric = assignment.rubric
    public = next(case for case in cases if case.public)
    return {
        "assignment": assignment.name,
        "title": rubric.title,
        "function": rubric.function,
        "parameters": list(assignment.reference.parameters),
        "returns": list(rubric.returns),
        "steps": [{"name": step.name, "points": step.points, "hint": step.hint}
                  | ({"capture": step.capture} if step.per_iteration else {}) for step in rubric.steps],
        "tolerance": {"rtol": rubric.tolerance.rtol, "atol": rubric.tolerance.atol},
        "arguments": {name: values.encode_argument(value) for name, value in public.arguments.items()},
        "expected": {name: value.tolist() for name, value in public.expected.items()},
    } | _loop_keys(rubric, public)


def _loop_keys(rubric: Rubric, public: Case) -> dict:
    """What the self-check needs of the step model beyond the defaults (absent for an assignment without them)."""
    keys: dict = {}
    if rubric.iteration_steps:
        keys["iteration"] = list(rubric.iteration)
        keys["positions"] = {name: [list(position) for position in public.positions[name]] for name in rubric.iteration_steps}
    if rubric.updates:
        keys["updates"] = list(rubric.updates)
    words = {key: value for key, value in dataclasses.asdict(rubric.words).items() if value is not None}
    if words:
        keys["words"] = words
    return keys


def build_stub(assignment: Assignment, case_document: dict) -> nbformat.NotebookNode:
    """The student's notebook: answers stripped, outputs cleared, tagged with the assignment."""
    node, _ = notebook.read_node((assignment.directory / assignment.rubric.notebook).resolve())  # links followed
    stub = copy.deepcopy(node)
    for cell in stub.cells:
        if cell.get("cell_type") == "code":
            cell["source"] = strip_solutions(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]))
            cell["outputs"] = []
            cell["execution_count"] = None
    stub.metadata[notebook.METADATA_KEY] = {"assignment": assignment.name, "public_case": case_document}
    return stub


def render(node: nbformat.NotebookNode) -> str:
    return nbformat.writes(node) + "\n"


def render_case(document: dict) -> str:
    return json.dumps(document, indent=1) + "\n"


def outputs(assignment: Assignment, cases: list, assignments_dir: Path) -> dict[Path, str]:
    """The files `grade-stub` writes, by path, with their text."""
    document = public_case(assignment, cases)
    folder = assignments_dir / assignment.name
    return {
        folder / assignment.rubric.notebook: render(build_stub(assignment, document)),
        folder / PUBLIC_CASE: render_case(document),
    }
