"""Reading notebooks: tolerant of what students hand in, strict about what counts as a notebook."""

from __future__ import annotations

import errno
import json
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import fastjson

if TYPE_CHECKING:  # imported on use: ~85 ms of start-up (jsonschema) that reading a v4 notebook never needs
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


def read(path: Path) -> Notebook:
    """Read a notebook file (v4, or older versions upgraded); raise InvalidNotebook otherwise."""
    return parse(read_bytes(path))


def parse(raw: bytes) -> Notebook:
    """The notebook these bytes hold (as `read_bytes` returned them); raise InvalidNotebook otherwise."""
    node, _ = parse_data(raw)
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
    return Notebook(tuple(cells), assignment if isinstance(assignment, str) else None)


def read_node(path: Path) -> tuple[nbformat.NotebookNode, int]:
    """The notebook as an nbformat v4 node, and the major version it had on disk."""
    return parse_node(read_bytes(path))


def read_data(path: Path) -> tuple[dict, int]:
    """The notebook as plain v4 data (dicts and lists, as `json` reads them), and the major version it had on disk."""
    return parse_data(read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES; raise InvalidNotebook with the reason otherwise.

    A submission is untrusted: a symbolic link may point at the reference notebook, a FIFO never
    ends, /dev/zero or a sparse file never fits in memory. So the last component is never followed,
    the file is opened without blocking and checked to be a regular file of bounded size before a
    byte is read, and no more than the cap is read whatever it claims. Callers that accept a link
    the user named themselves pass its resolved path.
    """
    try:
        descriptor = _open_unlinked(Path(path))
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since it was checked
            raise InvalidNotebook(_not_regular(stat.S_IFLNK)) from None
        raise InvalidNotebook(f"cannot be read: {error.strerror or error}") from None
    try:
        status = os.fstat(descriptor)
        _check_regular(status.st_mode)  # replaced by something else since it was checked
        if status.st_size > MAX_BYTES:
            raise InvalidNotebook(_too_large(status.st_size))
        chunks, total = [], 0
        while total <= MAX_BYTES:
            chunk = os.read(descriptor, MAX_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise InvalidNotebook(f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if total > MAX_BYTES:  # grew while it was read
        raise InvalidNotebook(_too_large(total))
    return b"".join(chunks)


def _open_unlinked(path: Path) -> int:
    """`path` opened for reading without blocking, once checked to be a regular file reached through no link.

    Discovery gives resolved paths, so a link on the way is a folder replaced after discovery: it
    is refused too (with O_PATH, which needs no read permission on the folders on the way).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if _O_PATH is None:  # no O_PATH: only the file itself is kept from being a link
        _check_regular(os.lstat(path).st_mode)
        return os.open(path, flags)
    *folders, name = path.parts
    folder = os.open("/" if path.is_absolute() else ".", _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in folders[1:] if path.is_absolute() else folders:
            try:
                inner = os.open(part, _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
            except OSError:
                if stat.S_ISLNK(os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode):
                    raise InvalidNotebook("is reached through a symbolic link: submissions must be regular files") from None
                raise
            os.close(folder)
            folder = inner
        _check_regular(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        return os.open(name, flags, dir_fd=folder)
    finally:
        os.close(folder)


def _check_regular(mode: int) -> None:
    kind = _not_regular(mode)
    if kind:
        raise InvalidNotebook(kind)


_O_PATH = getattr(os, "O_PATH", None)
_KINDS = ((stat.S_ISLNK, "is a symbolic link: submissions must be regular files"),
          (stat.S_ISDIR, "is a folder, not a notebook"),
          (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file"),
          (stat.S_ISCHR, "is a character device, not a regular file"),
          (stat.S_ISBLK, "is a block device, not a regular file"),
          (stat.S_ISSOCK, "is a socket, not a regular file"))


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((reason for test, reason in _KINDS if test(mode)), "is not a regular file")


def _too_large(size: int) -> str:
    mib = 1024 * 1024
    return f"is larger than the {MAX_BYTES // mib} MiB cap ({size / mib:,.0f} MiB)"


def parse_node(raw: bytes) -> tuple[nbformat.NotebookNode, int]:
    """The notebook these bytes hold as an nbformat v4 node, and the major version they had."""
    import nbformat

    data, version = parse_data(raw)
    return (data if isinstance(data, nbformat.NotebookNode) else nbformat.from_dict(data)), version


def parse_data(raw: bytes) -> tuple[dict, int]:
    """The notebook these bytes hold as plain v4 data (older versions upgraded), and the major version they had.

    A v4 notebook is read with `json` alone: nbformat (and the jsonschema it imports) is loaded only
    to upgrade an older one. Nothing is validated against the schema either way.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidNotebook("is not UTF-8 text (a notebook is a JSON file)") from None
    if not text.strip():
        raise InvalidNotebook("is empty")
    try:
        data = fastjson.loads(text)
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
        raise InvalidNotebook(f"has an unsupported nbformat version: {version!r:.40}")
    if version < 4:
        data = _upgraded(data, version)
    if not isinstance(data.get("cells"), list):
        raise InvalidNotebook("is JSON but not a Jupyter notebook (its cells are not a list)")
    return data, version


def _upgraded(data: dict, version: int) -> dict:
    """A notebook older than v4 converted to v4 by nbformat (an nbformat node, which is a dict)."""
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.convert(nbformat.from_dict(data), 4)
    except Exception as error:  # nbformat's converters raise many kinds on malformed input
        raise InvalidNotebook(f"is a version {version} notebook that cannot be upgraded ({type(error).__name__})") from None
