"""grader.fastjson reads every text as json.loads does (the value, or the error), with msgspec or without it."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import nbformat
import pytest

from grader import fastjson
from tests.notebooks import SOLUTIONS, student_notebook, write

# Where msgspec and json part ways (msgspec refuses), where a faster reader could read otherwise (long integers,
# subnormal and boundary floats, duplicate keys), and ordinary JSON beside them.
TRICKY = [
    b'{"a": 1, "a": 2}', b"1e400", b"-1e400", b"[1e-400]", b"NaN", b"[Infinity, -Infinity]", b'{"a": "\\ud800"}',
    b'"\\ud83d\\ude00"', b"18446744073709551616", b"18446744073709551615", b"9223372036854775808",
    b"-9223372036854775809", b"-9223372036854775808", b"-9999999999999999999", b"[12345678901234567890123]",
    b'{"nbformat": 99999999999999999999, "cells": []}', b"\xef\xbb\xbf{}", b'{"a": 1} ', b' {"a": 1}', b"[1.0]",
    b"[-0.0, -0]", b"[0.1, 1e16, 1E5, 123456789012345678.0]", b'"\x7f"', b'"\x01"', b"[" * 1100 + b"]" * 1100,
    b"[" * 990 + b"]" * 990, b"[" * 500 + b"]" * 500, b'{"\xc3\xa9": 1}', b'"\xed\xa0\x80"', b'"\xff"', b"[1,]",
    b"01", b"[.5]", b'"\\u0000"', b'{"a": {}}', b"[true, false, null]", b"  ", b"", b'"a\tb"',
    b"1.7976931348623157e309", b"4.9e-324", b"2.4703282292062327e-324", b"[1e-7]", "\ufeff[1]".encode("utf-16"),
    '{"a": "\u00e9\u4e2d\U0001f600"}'.encode(), b'{"a": [1, 2, {"b": null}]} x', b"nul", b"[1 2]", b'{"a" 1}',
    # Python's limit on the digits of an integer read from text (4,300), and floats of many digits.
    b"1" * 4300, b"1" * 4301, b"[-" + b"1" * 5000 + b"]", b"1" * 400 + b".5", b"0." + b"1" * 5000, b"1e" + b"9" * 30,
]


def _outcome(load, text):
    """The value with every type spelled out, or the error's type and words."""
    try:
        return "value", _typed(load(text))
    except RecursionError:
        return "error", "RecursionError"
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, too many digits
        return "error", type(error).__name__, str(error)


def _typed(value):
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}, list(value)
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return type(value).__name__, repr(value)


def _texts(raw: bytes) -> list:
    forms = [raw, bytearray(raw)]
    try:
        forms.append(raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return forms


@pytest.fixture
def every_text_to_msgspec(monkeypatch):
    """Texts of any length go to msgspec first (by default only long ones do)."""
    monkeypatch.setattr(fastjson, "LARGE", 0)


@pytest.mark.parametrize("raw", TRICKY, ids=lambda raw: repr(raw[:24]))
def test_tricky_texts_read_as_json_reads_them(raw, every_text_to_msgspec):
    for text in _texts(raw):
        assert _outcome(fastjson.loads, text) == _outcome(json.loads, text)
        refusing = _outcome(lambda t: fastjson.loads(t, parse_constant=_refused), text)
        assert refusing == _outcome(lambda t: json.loads(t, parse_constant=_refused), text)


def _refused(name):
    raise ValueError(f"{name} refused")


def test_damaged_notebooks_read_as_json_reads_them(tmp_path, every_text_to_msgspec):
    """A real notebook, then 1,500 copies damaged at random: bytes flipped, cut short, or given a long integer, NaN,
    a lone surrogate, a byte-order mark or deep nesting somewhere. Each reads as json.loads reads it."""
    path = write(student_notebook("return 1, 2\n"), tmp_path / "backward_pass.ipynb")
    raw = path.read_bytes()
    assert _outcome(fastjson.loads, raw) == _outcome(json.loads, raw)
    inserts = [b"99999999999999999999", b"-9223372036854775809", b"NaN", b"1e999", b'"\\udfff"', b"\xef\xbb\xbf",
               b"[" * 1200, b"0", b"\xff", b"\\u0041", b'"', b",", b"}", b"-0"]
    chance = random.Random(20261130)
    differing = 0
    for _ in range(1500):
        damaged = bytearray(raw)
        for _ in range(chance.randint(1, 3)):
            at = chance.randrange(len(damaged))
            how = chance.random()
            if how < 0.4:
                damaged[at] = chance.randrange(256)
            elif how < 0.5:
                del damaged[at:]
            else:
                damaged[at:at] = chance.choice(inserts)
        for text in _texts(bytes(damaged)):
            differing += _outcome(fastjson.loads, text) != _outcome(json.loads, text)
    assert differing == 0


def test_without_msgspec_json_reads_everything(monkeypatch, every_text_to_msgspec):
    monkeypatch.setattr(fastjson, "_msgspec", lambda: None)
    for raw in TRICKY:
        for text in _texts(raw):
            assert _outcome(fastjson.loads, text) == _outcome(json.loads, text)


def test_msgspec_reads_a_notebook_and_is_imported_for_long_texts_only(monkeypatch):
    """On the platforms the project lists it for, msgspec is installed; a notebook with the stub's public case (tens
    of kilobytes) is read by it, a short text by json, which then never imports it."""
    reader = fastjson._msgspec()
    if reader is None:
        pytest.fail("msgspec is not installed: pyproject.toml lists it for this platform")
    read = []
    monkeypatch.setattr(fastjson, "_msgspec", lambda: (lambda text: read.append(len(text)) or reader[0](text), reader[1]))
    long_text = json.dumps({"cells": [], "metadata": {"floats": [0.1 * number for number in range(3000)]}})
    assert len(long_text) >= fastjson.LARGE and fastjson.loads(long_text) == json.loads(long_text)
    assert fastjson.loads('{"key": "abc", "grade": {"score": 1.5}}') == {"key": "abc", "grade": {"score": 1.5}}
    assert read == [len(long_text)]
    program = "import sys\nfrom grader import fastjson\nfastjson.loads('[1, 2]')\nprint('msgspec' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_a_class_grades_alike_with_and_without_msgspec(tmp_path):
    """Through the real CLI: notebooks with long integers, NaN in the metadata, a byte-order mark, a torn end, beside a
    right one, get the same JSON report whether msgspec reads them or json does."""
    right = student_notebook()
    text = nbformat.writes(right)
    notebooks = {
        "right": nbformat.writes(right).encode(),
        "long-integer": nbformat.writes(right).replace('"nbformat_minor": ', '"nbformat_minor": 1844674407370955161').encode(),
        "version-too-long": nbformat.writes(right).replace('"nbformat": 4', '"nbformat": 99999999999999999999').encode(),
        "nan-metadata": '"metadata": {"x": NaN, "y": -Infinity, '.join(text.rsplit('"metadata": {', 1)).encode(),
        "bom": b"\xef\xbb\xbf" + nbformat.writes(right).encode(),
        "torn": nbformat.writes(right).encode()[:-40],
    }
    for name, raw in notebooks.items():
        folder = tmp_path / "class" / name
        folder.mkdir(parents=True)
        (folder / "backward_pass.ipynb").write_bytes(raw)
    reports = []
    for hide in (False, True):
        program = ("import sys\n" + ("sys.modules['msgspec'] = None\n" if hide else "")
                   + f"from grader import cli, fastjson\nfastjson.LARGE = 0\nassert (fastjson._msgspec() is None) == {hide!r}\n"
                   + "cli.grade()\n")
        report = tmp_path / f"report-{hide}.json"
        done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "class"), "--no-cache", "--json",
                               str(report), "--solutions", str(SOLUTIONS)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        reports.append(_without_timings(json.loads(report.read_text())))
    assert reports[0] == reports[1]
    statuses = {entry["student"]: entry["status"] for entry in reports[0]["submissions"]}
    assert statuses["right"] == statuses["long-integer"] == statuses["nan-metadata"] == statuses["bom"] == "graded"
    assert statuses["torn"] == statuses["version-too-long"] == "invalid"


def _without_timings(value):
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items()
                if key not in ("seconds", "generated", "graded_at", "duration")}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


class _Text(str):
    """A str subclass, as a student's exception could carry one: msgspec refuses it, json writes it."""


class _Number(int):
    pass


def _random_text(chance: random.Random) -> str:
    pieces = ["a", "é", "中", "\U0001f600", "\u2028", "\u2029", "\x00", "\x1f", "\x7f", '"', "\\", "/", "\ud800",
              "\udfff", "\ufeff", " ", "\n", "\t", "{", "]"]
    return "".join(chance.choice(pieces) for _ in range(chance.randint(0, 12)))


def _random_document(chance: random.Random, depth: int = 0):
    """Plain data as a sandbox child's document holds it (no float): text of every awkward kind, long integers."""
    kind = chance.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return _random_text(chance)
    if kind == 1:
        return chance.choice([0, -1, 2**63, -(2**63) - 1, 10**40, 7])
    if kind == 2:
        return chance.choice([True, False, None])
    if kind == 3:
        return _Text(_random_text(chance))
    if kind == 4:
        return _Number(chance.randrange(100))
    if kind == 5:
        return ""
    if kind == 6:
        return [_random_document(chance, depth + 1) for _ in range(chance.randint(0, 4))]
    return {_random_text(chance): _random_document(chance, depth + 1) for _ in range(chance.randint(0, 4))}


@pytest.mark.parametrize("with_msgspec", [True, False])
def test_dumps_reads_back_as_json_dumps_text_does(monkeypatch, every_text_to_msgspec, with_msgspec):
    """fastjson.dumps (a sandbox child's document): 2,000 random documents of plain data, with lone surrogates,
    control characters, non-BMP text, str and int subclasses and long integers, read back (by json and by
    fastjson) as the text json.dumps writes reads; without msgspec its bytes are json's."""
    if not with_msgspec:
        monkeypatch.setattr(fastjson, "writer", lambda: None)
    chance = random.Random(20261130)
    for _ in range(2000):
        document = {"warnings": [_random_document(chance)], "cases": _random_document(chance)}
        written = fastjson.dumps(document)
        expected = json.dumps(document, separators=(",", ":"))
        assert isinstance(written, bytes)
        assert _typed(json.loads(written)) == _typed(json.loads(expected))
        assert _typed(fastjson.loads(written.decode("utf-8"))) == _typed(json.loads(expected))
        if not with_msgspec:
            assert written == expected.encode()


def test_dumps_writes_with_msgspec_where_it_can():
    """On the platforms the project lists it for, the writer is msgspec's: a document of plain text and numbers is
    written as UTF-8 (not json's escapes), one with a lone surrogate as json writes it."""
    if fastjson.writer() is None:
        pytest.fail("msgspec is not installed: pyproject.toml lists it for this platform")
    assert fastjson.dumps({"message": "naïve ✓", "line": 3}) == '{"message":"naïve ✓","line":3}'.encode()
    assert fastjson.dumps({"message": "\ud800"}) == b'{"message":"\\ud800"}'


def test_msgspec_loads_without_typing_extensions_which_stays_importable():
    """In a fresh process (as a fork server starts), loading msgspec's writer leaves typing_extensions unloaded (about
    10 ms of its import, for typed decoding this project never asks for), and a later import of it (a notebook's)
    works; where something loaded it first, it is left as it is."""
    program = "\n".join([
        "import sys",
        "from grader import fastjson",
        "assert fastjson.writer() is not None and fastjson.loads('[' + '1,' * 9000 + '1]')[-1] == 1",
        "print('typing_extensions' in sys.modules)",
        "import typing_extensions",
        "print(typing_extensions.Literal is not None)",
    ])
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
    loaded_first = "import typing_extensions, sys\nfrom grader import fastjson\nfastjson.writer()\n" \
                   "print(sys.modules['typing_extensions'] is typing_extensions)"
    done = subprocess.run([sys.executable, "-c", loaded_first], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
