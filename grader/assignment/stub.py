"""Generating the student's stub notebook from the instructor's reference (its public case: public_case.py).

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
import re
from pathlib import Path
from typing import TYPE_CHECKING

from grader import notebook, selfcheck_cell
from grader.assignment.loader import Assignment

if TYPE_CHECKING:  # imported on use: only writing a stub needs it
    import nbformat

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


def starting_cells(assignment: Assignment) -> list[tuple[int, str]]:
    """The code cells of the student's stub, as (place in the notebook, text): the reference's, answers stripped."""
    book = notebook.read(assignment.layout.reference.resolve())  # the instructor's own file: links are followed
    return [(cell.index, strip_solutions(cell.source)) for cell in book.cells]


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


_CHECK_TEXT = ("### Check your work\n\n"
               "Save the notebook, then run the cell below (or run `grade-check <this notebook>` in a terminal). "
               "It runs your function on the demo's inputs in a sandbox and tells you, step by step, what is "
               "right, what is wrong and which known mistake a wrong value is. It gives no score: your grade "
               "also uses hidden inputs. Grading leaves this cell out.")


def build_stub(assignment: Assignment, case_document: dict) -> nbformat.NotebookNode:
    """The student's notebook: answers stripped, outputs cleared, tagged with the assignment."""
    import nbformat  # writing a stub is the one use of nbformat left; grading never imports it

    node, _ = notebook.read_node(assignment.layout.reference.resolve())  # links followed
    stub = copy.deepcopy(node)
    for cell in stub.cells:
        if cell.get("cell_type") == "code":
            cell["source"] = strip_solutions(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"]))
            cell["outputs"] = []
            cell["execution_count"] = None
    if not any(cell.get("cell_type") == "code" and selfcheck_cell.is_self_check(cell["source"]) for cell in stub.cells):
        # Fixed ids: the same reference always gives the same stub (`grade-stub --check`).
        stub.cells.append(nbformat.v4.new_markdown_cell(_CHECK_TEXT, id="check-your-work"))
        stub.cells.append(nbformat.v4.new_code_cell(selfcheck_cell.SOURCE, id="self-check"))
    stub.metadata[notebook.METADATA_KEY] = {"assignment": assignment.name, "public_case": case_document}
    return stub


def render(node: nbformat.NotebookNode) -> str:
    import nbformat

    return nbformat.writes(node) + "\n"


def outputs(assignment: Assignment, cases: list, assignments_dir: Path) -> dict[Path, str]:
    """The files `grade-stub` writes, by path, with their text."""
    # numpy, for the public case: imported here, as routing (which strips solution lines) must not load it.
    from grader.assignment.public_case import PUBLIC_CASE, public_case, render_case

    document = public_case(assignment, cases)
    folder = assignments_dir / assignment.name
    return {
        folder / assignment.layout.notebook: render(build_stub(assignment, document)),
        folder / PUBLIC_CASE: render_case(document),
    }
