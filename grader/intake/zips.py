"""A class zip as Canvas, Moodle or Gradescope exports it: its notebooks as submissions, read safely.

The archive comes from a learning platform but holds what students uploaded, so it is read like
any untrusted input: its size, its number of entries and its central directory are bounded before
it is parsed; a notebook entry is taken only if it is a plain file inside the archive (no absolute
path, no `..`, no link, no name that two entries share), of a notebook's size and of a plausible
compression ratio, within a total for the whole archive. Nothing is extracted by its own name:
each notebook's bytes go to a private temporary folder (0700, removed at exit) under a numbered
folder and its original file name. An entry that cannot be taken is a submission that reads as
`invalid` with the reason; an archive that cannot be read at all is one such submission.
"""

from __future__ import annotations

import atexit
import lzma
import os
import re
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grader.models import Submission
from grader.notebook import MAX_BYTES

MIB = 1024 * 1024
MAX_ARCHIVE_BYTES = 1024 * MIB
MAX_ENTRIES = 5000
MAX_DIRECTORY_BYTES = 4 * MIB
"""Cap on the central directory, checked before zipfile parses it: zipfile reads entries until the directory's
declared size is used up, whatever their declared number, and holds each in memory."""
MAX_TOTAL_BYTES = 1024 * MIB
"""Cap on the notebooks extracted from one archive, together."""
MAX_RATIO = 200
"""A notebook (JSON text) compresses far less than this; a zip bomb far more."""
RATIO_FLOOR = MIB
"""Entries smaller than this are not judged by their ratio: they cannot hurt."""
MAX_METADATA_BYTES = 4 * MIB
GRADESCOPE_METADATA = "submission_metadata.yml"
# As in folders (grader/batch.py): platform and editor debris, never a submission.
_SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints", "__MACOSX", "__pycache__", ".git"})
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"

_GRADESCOPE = re.compile(r"submission_\d+")
_MOODLE = re.compile(r"(?P<who>.+)_(?P<id>\d+)_assignsubmission_[a-z]+_(?P<rest>.*)")
_CANVAS = re.compile(r"(?P<who>[^_]+?)(?:_late)?_(?P<user>\d+)_\d+_(?P<rest>.+)", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    """One notebook entry of the archive."""

    name: str
    """Its name in the archive."""
    parts: tuple[str, ...]
    """Its folders and file name, below the archive's one enclosing folder if all share one."""
    path: Path
    """Where its bytes were written (nothing is there when it was refused)."""
    problem: str | None
    """Why it was not taken, or None."""


@dataclass(frozen=True)
class _Archive:
    entries: tuple[_Entry, ...]
    wrapper: str | None
    """The folder that encloses every notebook entry (a re-zipped download), stripped from their parts."""
    gradescope_ids: dict[str, str]
    """Gradescope's submission folder -> its submitters' ids, from submission_metadata.yml."""
    problem: str | None = None
    """Why the archive as a whole cannot be read, or None."""


_opened: dict[tuple, _Archive] = {}
"""Archives read in this process: submissions are found twice per run (grader/cli.py), read once."""


def submissions(given: Path) -> list[tuple[Submission, str | None]]:
    """The notebooks of the zip at `given`, each named by its platform's convention (README, "Class zips"), with
    the student id it takes instead if it turns out to be named as the assignment's notebook (None: no other)."""
    target = given.resolve()
    archive = _archive(target)
    if archive.problem is not None:
        return [(Submission(target, str(given), given.stem, problem=archive.problem), None)]
    found = []
    for entry in archive.entries:
        named = _convention(entry.parts)[1]
        student = named or _student(entry.parts)
        student = archive.gradescope_ids.get(student, student)
        alias = archive.wrapper or given.stem if named is None and len(entry.parts) == 1 else None
        found.append((Submission(entry.path, f"{given}/{entry.name}", student, problem=entry.problem), alias))
    return found


def _convention(parts: tuple[str, ...]) -> tuple[str, str | None]:
    """The entry's original file name and its student id by the first convention its name follows (None: none)."""
    first, file_name = parts[0], parts[-1]
    if len(parts) > 1 and _GRADESCOPE.fullmatch(first):
        return file_name, first
    moodle = _MOODLE.fullmatch(first)
    if moodle and (len(parts) > 1 or moodle["rest"]):
        return moodle["rest"] if len(parts) == 1 else file_name, f"{moodle['who']}_{moodle['id']}"
    canvas = _CANVAS.fullmatch(first) if len(parts) == 1 else None
    if canvas:
        return canvas["rest"], f"{canvas['who']}_{canvas['user']}"
    return file_name, None


def _student(parts: tuple[str, ...]) -> str:
    """No convention: as in a folder, the first folder, else the file's stem (a notebook named like the
    assignment's is its enclosing folder's or zip's: alice.zip holding backward_pass.ipynb is alice's)."""
    stem = parts[-1][: -len(".ipynb")]
    if ".." in parts:  # refused: named after its file, not after a folder outside the archive
        return stem
    return parts[0] if len(parts) > 1 else stem


def _archive(target: Path) -> _Archive:
    try:
        status = os.stat(target)
    except OSError as error:
        return _Archive((), None, {}, f"cannot be read: {error.strerror or error}")
    key = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    if key not in _opened:
        _opened[key] = _read_archive(target)
    return _opened[key]


def _read_archive(target: Path) -> _Archive:
    try:
        descriptor = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return _Archive((), None, {}, f"cannot be read: {error.strerror or error}")
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            return _Archive((), None, {}, "is not a regular file, so not a zip archive")
        if status.st_size > MAX_ARCHIVE_BYTES:
            return _Archive((), None, {}, f"is larger than the {MAX_ARCHIVE_BYTES // MIB:,} MiB cap on a class zip "
                                          f"({status.st_size / MIB:,.0f} MiB): split the class into several zips")
        problem = _directory_problem(stream, status.st_size)
        if problem is not None:
            return _Archive((), None, {}, problem)
        try:
            archive = zipfile.ZipFile(stream)
            infos = archive.infolist()
        except UnicodeDecodeError:
            return _Archive((), None, {}, "is a zip archive whose entry names are marked UTF-8 but are not: re-create it")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError, OSError) as error:
            return _Archive((), None, {}, f"is not a readable zip archive ({error}): download it again")
        if len(infos) > MAX_ENTRIES:
            return _Archive((), None, {}, _too_many(len(infos)))
        return _extract(archive, infos)


def _directory_problem(stream, size: int) -> str | None:
    """Why the archive's central directory is not parsed, or None: read from its end record, before zipfile reads it.

    A zip of a few hundred bytes may declare millions of entries; zipfile would build an object for
    each. ZIP64 archives (over 65,535 entries or 4 GiB) are beyond every cap here.
    """
    tail_size = min(size, 22 + 65535)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < 22:
        return "is not a zip archive (no zip directory at its end): download the class zip again"
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10:at + 16])
    # zipfile takes a ZIP64 record's sizes over the end record's wherever its locator precedes it.
    zip64 = tail[max(at - 20, 0):at].startswith(_ZIP64_LOCATOR)
    if zip64 or entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        return "is a ZIP64 archive, beyond the caps on a class zip: split the class into several zips"
    if entries > MAX_ENTRIES:
        return _too_many(entries)
    if directory_bytes > MAX_DIRECTORY_BYTES:
        return f"has a zip directory of {directory_bytes / MIB:,.0f} MiB, more than the {MAX_DIRECTORY_BYTES // MIB} MiB cap"
    return None


def _too_many(count: int) -> str:
    return f"holds {count:,} entries, more than the {MAX_ENTRIES:,} a class zip may: split the class into several zips"


def _extract(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> _Archive:
    """Every notebook entry, read into the private folder or refused with the reason; Gradescope's ids."""
    folder = Path(tempfile.mkdtemp(prefix="backprop-grader-zip-"))
    atexit.register(shutil.rmtree, folder, True)
    names = Counter(_normal(info.filename) for info in infos)
    wanted = [(index, info) for index, info in enumerate(infos) if _is_notebook(info)]
    wrapper = _wrapper([_parts(info.filename) for _, info in wanted])
    entries, total, gradescope_ids = [], 0, {}
    for info in infos:
        if _parts(info.filename)[-1] == GRADESCOPE_METADATA and not info.is_dir():
            gradescope_ids.update(_gradescope_ids(archive, info))
    for index, info in wanted:
        parts = _parts(info.filename)[1 if wrapper else 0:]
        problem = _refusal(info, names) or (_over_total(total, info.file_size))
        path = folder / str(index) / "refused"
        original = _convention(parts)[0]
        if problem is None:
            problem = _write(archive, info, folder / str(index), original)
        if problem is None:
            total += info.file_size
            path = folder / str(index) / original
        entries.append(_Entry(info.filename, parts, path, problem))
    entries.sort(key=lambda entry: entry.parts)  # path order, as in a folder
    return _Archive(tuple(entries), wrapper, gradescope_ids)


def _parts(name: str) -> tuple[str, ...]:
    return tuple(part for part in name.replace("\\", "/").split("/") if part not in ("", ".")) or ("",)


def _normal(name: str) -> str:
    return "/".join(_parts(name))


def _is_notebook(info: zipfile.ZipInfo) -> bool:
    """A notebook entry to take (or to refuse aloud): not a folder, not debris in a skipped or hidden folder."""
    parts = _parts(info.filename)
    if info.is_dir() or not parts[-1].lower().endswith(".ipynb"):
        return False
    return not any((part.startswith(".") and part != "..") or part in _SKIPPED_FOLDERS for part in parts)


def _wrapper(all_parts: list[tuple[str, ...]]) -> str | None:
    """The one folder enclosing every notebook, unless it is itself a convention's student folder."""
    firsts = {parts[0] for parts in all_parts if len(parts) > 1}
    if len(firsts) != 1 or any(len(parts) == 1 for parts in all_parts):
        return None
    first = next(iter(firsts))
    if first == ".." or _GRADESCOPE.fullmatch(first) or _MOODLE.fullmatch(first):
        return None
    return first


def _refusal(info: zipfile.ZipInfo, names: Counter) -> str | None:
    """Why an entry is not taken, from its header alone, or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "is not taken: its name in the zip is an absolute path"
    if ".." in _parts(name):
        return "is not taken: its name in the zip climbs out of the archive (..)"
    kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
    if stat.S_ISLNK(kind):
        return "is not taken: it is a symbolic link stored in the zip, not a notebook"
    if kind and not stat.S_ISREG(kind):
        return "is not taken: it is not a regular file in the zip"
    if names[_normal(name)] > 1:
        return f"is not taken: {names[_normal(name)]} entries of the zip have this name, so which one is meant is unclear"
    if info.flag_bits & 0x1:
        return "is not taken: it is encrypted in the zip"
    if info.file_size > MAX_BYTES:
        return f"is larger than the {MAX_BYTES // MIB} MiB cap ({info.file_size / MIB:,.0f} MiB once unzipped)"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return f"is not taken: it would unzip {ratio:,.0f} times larger than it is stored, as no notebook does (a zip bomb)"
    return None


def _over_total(total: int, size: int) -> str | None:
    if total + size > MAX_TOTAL_BYTES:
        return f"is not taken: the zip's notebooks exceed the {MAX_TOTAL_BYTES // MIB:,} MiB cap on one class zip together"
    return None


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, file_name: str) -> str | None:
    """Unzip one entry (at most its declared, capped, size) to `folder`/`file_name`; why not, or None."""
    try:
        with archive.open(info) as member:
            raw = member.read(MAX_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, NotImplementedError, RuntimeError, ValueError,
            EOFError, OSError) as error:
        return f"cannot be unzipped ({type(error).__name__}: {error}): download the class zip again"
    if len(raw) > MAX_BYTES:
        return f"is larger than the {MAX_BYTES // MIB} MiB cap once unzipped"
    try:
        os.mkdir(folder, 0o700)
        descriptor = os.open(folder / file_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(raw)
    except OSError as error:
        return f"cannot be unzipped here ({error.strerror or error})"
    return None


def _gradescope_ids(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, str]:
    """Submission folder -> its submitters' student ids (else e-mails, else names), joined by '+'.

    Gradescope's submission_metadata.yml is Ruby-flavoured YAML; only its `submission_N:` keys and
    the `:sid:`, `:email:` and `:name:` of each submitter are read, line by line: nothing in it is
    interpreted beyond those scalars.
    """
    if info.file_size > MAX_METADATA_BYTES or _refusal(info, Counter({_normal(info.filename): 1})):
        return {}
    try:
        with archive.open(info) as member:
            text = member.read(MAX_METADATA_BYTES).decode("utf-8", "replace")
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, NotImplementedError, RuntimeError, ValueError,
            EOFError, OSError):
        return {}
    people: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] | None = None
    listing = False
    for line in text.splitlines():
        top = re.fullmatch(r"(submission_\d+):\s*", line)
        if top:
            current, listing = people.setdefault(top[1], []), False
            continue
        key = re.fullmatch(r"( *)(-\s+)?:(\w+):\s*(.*)", line)
        if key is None or current is None:
            continue
        if not key[2] and len(key[1]) <= 2:  # a key of the submission: are its submitters listed next?
            listing = key[3] == "submitters"
            continue
        if listing and key[3] in ("sid", "email", "name"):
            if key[2] or not current:
                current.append({})
            value = _scalar(key[4])
            if value:
                current[-1][key[3]] = value
    ids = {}
    for folder, submitters in people.items():
        named = [person.get("sid") or person.get("email") or person.get("name") for person in submitters]
        if named and all(named):
            ids[folder] = "+".join(named)
    return ids


def _scalar(text: str) -> str | None:
    """A YAML scalar as Gradescope writes them: plain, 'single' or "double" quoted; null as None."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return None if text in ("", "~", "null") else text
