"""One job in a fresh interpreter: the self-check on platforms without fork (Windows).

There is no fork server there, so the child runner starts as a new `sys.executable` process
with the same scrubbed environment, runs the notebook in a scratch folder and writes its result
document to a file; the parent kills it at the time limit and reads the result with a size cap.
Only the time limit and the plain-data result channel protect the machine here, and the
self-check says so. The process image is new, so it never holds what its parent holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.sandbox import child, client, wire

RESULT_FILE = "result.json"
MISSING_PROTECTIONS = ("this platform cannot fork, so your notebook ran in a separate Python process with a time "
                       "limit only: no memory cap, no file or network restrictions")


def run(job: wire.Job, cases: list[wire.WireCase]) -> wire.SandboxReply:
    """Run `job` in a new interpreter under the job's time limit; the reply, as a fork server would give it."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="backprop-grader-spawned-") as folder:
        scratch = Path(folder, "scratch")
        scratch.mkdir()
        request = Path(folder, "request.json")
        request.write_text(json.dumps({"job": job, "cases": cases, "scratch": str(scratch)}), encoding="utf-8")
        stdout_path = Path(folder, "stdout")
        with open(stdout_path, "wb") as out, open(Path(folder, "stderr"), "wb") as err:
            # Started from the package's parent folder so `-m` finds the grader, as the fork servers are.
            runner = subprocess.Popen([sys.executable, "-s", "-E", "-m", "grader.sandbox.spawned", str(request)],
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=client.PACKAGE_PARENT,
                                      env=client.server_environment(str(scratch)))
            try:
                runner.wait(timeout=job["limits"]["timeout"])
                timed_out = False
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()
                timed_out = True
        result_path = scratch / RESULT_FILE
        document = None
        if not timed_out and result_path.is_file() and result_path.stat().st_size <= wire.MAX_RESULT:
            document = wire.decode_document(result_path.read_text(encoding="utf-8", errors="replace"))
        exit = "killed at the time limit" if timed_out else f"exited with code {runner.returncode}"
        with open(stdout_path, "rb") as stream:
            stdout = stream.read(wire.OUTPUT_EXCERPT)
        return wire.reply(document, timed_out, exit, stdout, stdout_path.stat().st_size, started)


def main(request_path: str) -> None:
    """In the new interpreter: run the job from the request file, write the result into the scratch folder."""
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)  # started from the package's parent folder; student code must not import from it
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    scratch = request["scratch"]
    os.chdir(scratch)
    document = child.run(request["job"], request["cases"])
    # Written under a temporary name and renamed: a run killed half-way leaves no result, never half of one.
    temporary = os.path.join(scratch, RESULT_FILE + ".part")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(document, stream, separators=(",", ":"))
    os.replace(temporary, os.path.join(scratch, RESULT_FILE))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
