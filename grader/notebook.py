"""Reading notebooks: tolerant of what students hand in, strict about what counts as a notebook."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

MAX_BYTES = 20 * 1024 * 1024
METADATA_KEY = "backprop_grader"


class InvalidNotebook(Exception):
    """The file is not a readable notebook; the message is a one-line reason."""


@dataclass(frozen=True)
class CodeCell:
    """One code cell as the student wrote it."""

    index: int
    """1-based position of the cell in the notebook, counting every cell."""
    source: str
    """The cell's text, unchanged."""


@dataclass(frozen=True)
class Notebook:
    """What the grader needs from a notebook file."""

    cells: tuple[CodeCell, ...]
    """The code cells, in order."""
    assignment: str | None
    """The assignment named in the notebook's metadata, if any."""
    version: int
    """The nbformat major version of the file as it was on disk."""


def read(path: Path) -> Notebook:
    """Read a notebook file (v4, or older versions upgraded); raise InvalidNotebook otherwise."""
    node, version = read_node(path)
    cells = []
    for index, cell in enumerate(node.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if isinstance(source, str):
            cells.append(CodeCell(index, source))
    metadata = node.get("metadata")
    tag = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    assignment = tag.get("assignment") if isinstance(tag, dict) else None
    return Notebook(tuple(cells), assignment if isinstance(assignment, str) else None, version)


def read_node(path: Path) -> tuple[nbformat.NotebookNode, int]:
    """The notebook as an nbformat v4 node, and the major version it had on disk."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise InvalidNotebook("is a directory, not a notebook") from None
    except OSError as error:
        raise InvalidNotebook(f"cannot be read: {error.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InvalidNotebook(f"is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidNotebook("is not UTF-8 text (a notebook is a JSON file)") from None
    if not text.strip():
        raise InvalidNotebook("is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidNotebook(f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise InvalidNotebook("is not valid JSON (nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise InvalidNotebook(f"is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise InvalidNotebook("is JSON but not a Jupyter notebook (it has no cells)")
    version = data.get("nbformat")
    if type(version) is not int or not 1 <= version <= 4:
        raise InvalidNotebook(f"has an unsupported nbformat version: {version!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            node = nbformat.from_dict(data)
            if version < 4:
                node = nbformat.convert(node, 4)
    except Exception as error:  # nbformat's converters raise many kinds on malformed input
        raise InvalidNotebook(f"is a version {version} notebook that cannot be upgraded ({type(error).__name__})") from None
    if not isinstance(node.get("cells"), list):
        raise InvalidNotebook("is JSON but not a Jupyter notebook (its cells are not a list)")
    return node, version
