"""Where finished grades are kept: append-only JSON-lines files with an index of offsets.

The results log (OUT/results.jsonl) and the content cache (CACHE/grades.jsonl) are both such a
file. Each grade is appended, flushed, as soon as it is made, so Ctrl-C or a crash loses at
most the line being written; a torn last line is ignored on reading. Only keys and offsets
stay in memory, never the grades, so memory stays flat as the class grows.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from grader import __version__, fastjson

# Files of a solutions folder that never change a grade.
_IGNORED_PARTS = ("__pycache__", ".ipynb_checkpoints")


_GRADER_SOURCE = Path(__file__).resolve().parent
# The first message of a grade that the grader's own failure caused (batch.Grader writes it).
GRADER_FAILURE = "The grader failed, not the submitted code"


def is_final(record: dict) -> bool:
    """Whether a grade may be served from the cache or resumed from the results log.

    A grade caused by a grader-side failure (a sandbox process that died or hung) says nothing
    about the student's work: it is kept for this run's reports, but the next run grades it again.
    """
    messages = record.get("messages") or []
    return not (record.get("status") == "error" and messages and str(messages[0]).startswith(GRADER_FAILURE))


def run_fingerprint(assignment_dir: Path, assignment: str, seed: int, limits: dict) -> str:
    """Everything besides the notebook that decides a grade: the grader's code, solutions, seed, limits.

    The grader's own source is hashed, not only its version number: a fix that changes verdicts
    must not be hidden by grades cached before it.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([__version__, assignment, seed, limits], sort_keys=True).encode())
    _hash_tree(digest, assignment_dir)
    digest.update(grader_source_digest().encode())
    return digest.hexdigest()


def grader_source_digest() -> str:
    """The digest of the grader's own source and version (a few milliseconds: hashed afresh each time asked)."""
    digest = hashlib.sha256(__version__.encode() + b"\0")
    _hash_tree(digest, _GRADER_SOURCE)
    return digest.hexdigest()


def _hash_tree(digest, folder: Path) -> None:
    for relative in _files(folder):
        digest.update(relative.encode() + b"\0" + (folder / relative).read_bytes() + b"\0")


def _files(folder: Path) -> list[str]:
    """Paths (relative, sorted) of the files under `folder`, ignored and hidden folders not even entered.

    Every run hashes the grader's own source this way: walking into its __pycache__ folders cost
    more than hashing the source itself.
    """
    found = []
    for top, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not _ignored(name)]
        base = os.path.relpath(top, folder)
        found += [os.path.normpath(os.path.join(base, name)) for name in names
                  if not _ignored(name) and os.path.isfile(os.path.join(top, name))]
    return sorted(found)


def _ignored(name: str) -> bool:
    return name in _IGNORED_PARTS or name.startswith(".")


def submission_key(fingerprint: str, given: str, digest: str) -> str:
    """The cache key of one submission: the run's fingerprint, where it is, and the digest of its bytes.

    The path is part of the key because the student id and some messages come from it. A grade is
    kept under the digest of the very bytes that were parsed and graded (batch.Loaded), never of a
    second read; it is looked up first with the digest of the bytes routing read (the same, unchanged).
    """
    return hashlib.sha256("\0".join((fingerprint, given, digest)).encode("utf-8", "backslashreplace")).hexdigest()


def _private(path: Path, flag: int):
    """`path` opened for reading and writing, created 0600 whatever the umask, as every report is: grades are
    students' records. A file made by an older version is narrowed to 0600 too when it is ours to change."""
    stream = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | flag, 0o600), "a+b" if flag == os.O_APPEND else "w+b")
    try:
        os.fchmod(stream.fileno(), 0o600)
    except PermissionError:  # another user's log, shared on purpose: read and appended, left as it is
        pass
    return stream


# A line's offset and length in one int: a line is far shorter than 2**32 bytes (a grade is a few KB).
_LENGTH_BITS = 32


def _place(offset: int, length: int) -> int:
    return offset << _LENGTH_BITS | length


def _unplace(place: int) -> tuple[int, int]:
    return place >> _LENGTH_BITS, place & ((1 << _LENGTH_BITS) - 1)


def _line(key: str, record: dict) -> bytes:
    return json.dumps({"key": key, "grade": record}, separators=(",", ":")).encode() + b"\n"


_KEY_START = b'{"key":"'
_KEY_END = b'","grade":'


def _key_of(line: bytes) -> str | None:
    """The key of a line, or None when it is not a record's line.

    A line `_line` wrote is read without parsing the grade after its key (reading every line whole was
    most of what loading a large cache cost); any other line is parsed. A line whose grade no longer
    reads is found by `get`, which then gives None.
    """
    end = line.find(_KEY_END, len(_KEY_START))
    if line.startswith(_KEY_START) and end != -1:
        key = line[len(_KEY_START):end]
        if key.isalnum() and key.isascii():
            return key.decode("ascii")
    try:
        key = fastjson.loads(line)["key"]
    except (ValueError, KeyError, TypeError):
        return None
    return key if isinstance(key, str) else None


class GradeLog:
    """An append-only file of lines {"key": ..., "grade": {...}}; the last line of a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: dict[str, int] = {}
        """Key -> where its line is, packed as one int (`_place`): a tuple of two ints costs four objects a grade."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._scan()
        self._stream = _private(path, os.O_APPEND)

    def _scan(self) -> None:
        if not self.path.exists():
            return
        offset = 0
        with open(self.path, "rb") as stream:
            for line in stream:
                key = _key_of(line)
                if key is not None and line.endswith(b"\n"):  # else a torn line from an interrupted run
                    self._index[key] = _place(offset, len(line))
                offset += len(line)
        if offset and not self._ends_with_newline():
            with open(self.path, "ab") as stream:  # so the next record starts on a line of its own
                stream.write(b"\n")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as stream:
            stream.seek(-1, os.SEEK_END)
            return stream.read(1) == b"\n"

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, key: str) -> dict | None:
        """The record of `key`, or None: also when its line no longer reads as one (the file changed under us), or
        reads as another key's (the index read its key from the line's start, `_key_of`)."""
        place = self._index.get(key)
        if place is None:
            return None
        offset, length = _unplace(place)
        try:
            line = fastjson.loads(os.pread(self._stream.fileno(), length, offset))
            record = line["grade"] if line["key"] == key else None
        except (ValueError, KeyError, TypeError, OSError):
            return None
        return record if isinstance(record, dict) else None

    def line(self, key: str) -> bytes | None:
        """The line of `key` as it is in the file (for `append_line`), or None."""
        place = self._index.get(key)
        if place is None:
            return None
        offset, length = _unplace(place)
        try:
            line = os.pread(self._stream.fileno(), length, offset)
        except OSError:
            return None
        return line if len(line) == length else None

    def append(self, key: str, record: dict) -> None:
        self.append_line(key, _line(key, record))

    def append_line(self, key: str, line: bytes) -> None:
        """Append the line another log holds for `key` (`line`): a cached grade copied into the results log as it
        is, not read into a grade and written again."""
        if _key_of(line) != key or not line.endswith(b"\n"):
            raise ValueError("not a whole line of this key")
        self._stream.seek(0, os.SEEK_END)
        offset = self._stream.tell()
        self._stream.write(line)
        self._stream.flush()
        self._index[key] = _place(offset, len(line))

    def keep_only(self, keys: set[str]) -> None:
        """Rewrite the file with the current line of each of `keys` it holds (drops stale ones)."""
        if set(self._index) <= keys and self._lines_are_unique():
            return
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        index: dict[str, int] = {}
        with open(self.path, "rb") as source, _private(temporary, os.O_TRUNC) as target:
            for key, place in self._index.items():
                if key in keys:
                    offset, length = _unplace(place)
                    source.seek(offset)
                    index[key] = _place(target.tell(), length)
                    target.write(source.read(length))
            target.flush()
            os.fsync(target.fileno())
        self._stream.close()
        os.replace(temporary, self.path)
        self._index = index
        self._stream = _private(self.path, os.O_APPEND)

    def _lines_are_unique(self) -> bool:
        return sum(_unplace(place)[1] for place in self._index.values()) == self.path.stat().st_size

    def close(self) -> None:
        self._stream.close()
