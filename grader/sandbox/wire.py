"""What crosses the sandbox boundary: the frame, the job, the child's result document, the reply.

The grader, each fork server (its launcher first) and the server's forked children talk over
pipes in frames (`frames`): an 8-byte big-endian length, then that many bytes. No frame read from a
pipe may announce more than `frames.MAX_MESSAGE` bytes.

- Grader -> launcher, once per fork server: `Mounts` (the folders to hide, the scratch size).
  The launcher keeps it; the server it execs never holds those paths (it gets only what was set
  up, `ServerFacts`, as JSON through an inherited pipe).
- Grader -> server, once, sent with `Mounts` when the server is spawned: `ProbeStart` (the probe
  child's limits). The server runs its probe child as soon as its interpreter is up, while the
  grader still builds the cases. Server -> grader, once: `ProbeAnswer` (the protection layers
  the probe child found, or why it failed).
- Grader -> server, once: `ServerStart` (every case's name, publicity and arguments, never an
  expected value; and the `Stub`: the code cells of the notebook every student starts from, the
  reference's with its answers stripped, which the server parses and compiles once for the
  children whose cells are the stub's).
- Grader -> server, per job, two frames: `JobHeader` (id and limits, all the server parses),
  then the `Job` body as raw JSON bytes, parsed only in the forked child and wiped in the server.
- Child -> server, on fd 3: one frame holding its `Document` as JSON (at most `MAX_RESULT`
  bytes; a larger or cut-off one counts as no result). The server relays it unparsed.
- Server -> grader, per job, `REPLY_FRAMES` frames: the `Envelope` (facts the server saw: exit,
  time, stdout's size), the child's document bytes (empty when it sent none), then the first
  `OUTPUT_EXCERPT` bytes of its stdout (the child silences its output before the first hidden
  case). Its stderr is captured, under the same output cap, and goes no further. The grader
  decodes the frames into a `SandboxReply`.

Where there is no fork (`spawned`), the same `Job` and cases go to a new interpreter in a request
file, and its `Document` comes back in a file, under the same `MAX_RESULT` and `OUTPUT_EXCERPT`.

Everything the child sends is untrusted: the grader parses the document with NaN and Infinity
refused, then validates every field (its `grading` module) before judging. Numbers travel in the
document as one float64 buffer with offsets into it (`values`, which also holds the argument
codec both sides use); a value holds at most `values.MAX_ELEMENTS` numbers, a run at most
`values.MAX_TOTAL`. The child's texts are cut to a few hundred characters at the source and
bounded again by the grader.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

from grader import fastjson
from grader.sandbox.frames import HEADER, encode, frame

if TYPE_CHECKING:  # the launcher imports this module and must not import numpy (`values` does)
    from grader.values import Argument

MAX_RESULT = 16 * 1024 * 1024
"""Largest child document the server relays."""
OUTPUT_EXCERPT = 4096
"""Bytes of the child's stdout that reach the grader (its size too)."""
REPLY_FRAMES = 3
"""A job's reply: the envelope, the child's document, its stdout excerpt."""


# The job (grader -> server -> child).

class Limits(TypedDict):
    timeout: float
    statement: float
    call: float
    memory_mb: int
    output_bytes: int


class Cell(TypedDict):
    index: int
    source: str


class WireCase(TypedDict):
    """A case as the child receives it: never an expected value."""

    name: str
    public: bool
    arguments: dict[str, Argument]
    """By parameter name, each encoded by `values.encode_argument`."""


class Job(TypedDict):
    cells: list[Cell]
    function: str
    parameters: list[str]
    steps: list[str]
    returns: list[str]
    iterations: list[str]
    updates: list[str]
    limits: Limits


class JobHeader(TypedDict):
    id: int
    limits: Limits


class ProbeJob(JobHeader):
    """The server's own first job: a child that reports the protection layers and runs no student code."""

    probe: dict[str, bool]
    """What the server found of its own hardening."""


class Mounts(TypedDict):
    hidden: list[str]
    scratch_bytes: int
    readable: list[str]
    """What children may read (`client.readable_paths`)."""


class ServerFacts(TypedDict):
    """What the launcher achieved before the exec (`namespaces.set_up_server`), for the server's `ServerSetup`."""

    root: bool
    sandbox_id: int | None
    userns: bool
    netns: bool
    ipcns: bool
    mountns: bool
    pidns: bool
    nproc: int | None
    problems: dict[str, str]
    readable: list[str]


class ProbeStart(TypedDict):
    limits: Limits


class Stub(TypedDict):
    function: str
    iterations: list[str]
    cells: list[Cell]


class ServerStart(TypedDict):
    cases: list[WireCase]
    stub: Stub | None


class ProbeAnswer(TypedDict):
    layers: list[dict] | None
    failure: str | None


# The child's result document (child -> grader). Every field is untrusted until `grading` validated it.

class Encoded(TypedDict, total=False):
    """A value: `at` and `shape` into the run's float64 buffer, or why it could not be sent."""

    at: int
    shape: list[int]
    unsupported: str


class Located(TypedDict):
    cell: int
    line: int
    message: str


class Unparsed(Located):
    defines: bool
    """Whether the cell or statement that could not run names the graded function."""


class Returned(TypedDict, total=False):
    kind: Literal["sequence", "none", "length", "other"]
    values: list[Encoded | None]
    length: int
    type: str | None


class Raised(TypedDict):
    message: str
    cell: int | None
    line: int | None


class CaseOutcome(TypedDict):
    name: str
    returned: Returned | None
    exception: Raised | None
    timeout: bool
    mutated: list[str]
    locals: dict[str, Encoded | None]
    iterations: dict[str, list[Encoded | None]]
    raised_at: list[int] | None
    looped: list[str]
    partial: list[str]


class Document(TypedDict, total=False):
    """A run's result; or `internal` alone (the runner failed), or `layers` alone (the probe child)."""

    warnings: list[Located]
    notes: list[Located]
    syntax_error: Unparsed | None
    function: str | None
    """"missing", "defined", or "not a function (...)"."""
    cases: list[CaseOutcome]
    stopped: Literal["timeout"] | None
    f8: str
    """The float64 buffer every `Encoded` points into, in base64."""
    internal: str
    layers: list[dict]


class Envelope(TypedDict):
    id: int
    result: bool
    timed_out: bool
    exit: str
    seconds: float
    stdout_bytes: int


@dataclass(frozen=True)
class SandboxReply:
    """What came back from running one job; `document` is untrusted data to be validated."""

    document: dict | None
    """The child's result document, or None when it sent none (or one that is not a JSON object)."""
    timed_out: bool
    exit: str
    """How the child ended, in words."""
    stdout: str
    """The start of what the child printed."""
    stdout_bytes: int
    seconds: float
    failure: str | None = None
    """Set when the sandbox itself failed (the server died or hung), not the student's code."""
    digest: bytes | None = None
    """SHA-256 of the document's bytes as the child wrote them (through a fork server): the same bytes parse to the
    same run, which the grader then need not parse and judge again (judge.verdicts.Remembered)."""


# One encoding and one decoding per direction.

def encode_job(job: Job, job_id: int) -> bytes:
    """A job as the server reads it: the header it needs (id, limits), then the body only its child parses."""
    return encode(JobHeader(id=job_id, limits=job["limits"])) + encode(job)


def decode_job(body: bytes | bytearray) -> Job:
    """In the child: the job body the server relayed."""
    return json.loads(bytes(body))


def encode_document(document: Document) -> bytes:
    """In the child: its document as the frame it writes to the server (no float in it: numbers go in `f8`)."""
    payload = fastjson.dumps(document)
    return HEADER.pack(len(payload)) + payload


def encode_reply(envelope: Envelope, result: bytearray | None, stdout: bytearray) -> list[bytes | bytearray]:
    """In the server: a job's `REPLY_FRAMES` frames, the child's bytes not copied."""
    return [encode(envelope), *frame(result or b""), *frame(stdout)]


def decode_reply(frames: list[bytes], started: float) -> SandboxReply:
    """In the grader: the reply from a server's frames for one job. Raises ValueError if the envelope is not JSON."""
    envelope = json.loads(frames[0])
    document = decode_document(frames[1]) if envelope.get("result") else None
    return reply(document, bool(envelope.get("timed_out")), str(envelope.get("exit", "")),
                 frames[2], int(envelope.get("stdout_bytes", 0)), started,
                 None if document is None else _digest(frames[1]))


def _digest(raw: bytes | bytearray) -> bytes:
    # Imported here: the grader has hashlib loaded already; the fork server, which imports this module, must not
    # map OpenSSL (every fork copies its mappings).
    import hashlib

    return hashlib.sha256(raw).digest()


def decode_document(raw: bytes | bytearray | str) -> dict | None:
    """The child's document as untrusted JSON: a dict, or None for anything else (NaN and Infinity refused)."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    try:
        parsed = fastjson.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def reply(document: dict | None, timed_out: bool, exit: str, stdout: bytes, stdout_bytes: int,
          started: float, digest: bytes | None = None) -> SandboxReply:
    """A reply from what a runner saw; `stdout` is the excerpt's raw bytes, `digest` the document bytes' SHA-256."""
    return SandboxReply(document, timed_out, exit, stdout.decode("utf-8", errors="replace"), stdout_bytes,
                        time.monotonic() - started, digest=digest)


def failed_reply(reason: str, started: float) -> SandboxReply:
    return SandboxReply(None, False, "", "", 0, time.monotonic() - started, failure=reason)


def _no_constant(name: str):
    """NaN and Infinity are not JSON; the child never writes them (numbers travel as float64 bytes)."""
    raise ValueError(f"{name} in the result")
