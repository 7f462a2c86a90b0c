"""The first stage of every fork server: namespaces and mounts, then a fresh image for the server.

The grader starts this module. It reads the grader's first message (the folders to hide, the
scratch size), enters the namespaces and builds the mounts (`namespaces`; with a PID namespace
it forks, and its child, pid 1 there, goes on), then execs `grader.sandbox.server`, handing it
what was set up through a pipe. The hidden paths and every byte read so far stay behind in this
image: the server, whose memory every job child inherits, never holds them. It imports no numpy
and starts without `site` (the grader sends the folders children may read), so this stage costs
one small interpreter start per server.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from grader.sandbox import frames, namespaces, process

# Not `typing.TYPE_CHECKING`: this interpreter imports only what it needs (`frames`).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from grader.sandbox import wire

SERVER_MODULE = "grader.sandbox.server"


def main() -> None:
    request: wire.Mounts = frames.read(open(0, "rb", buffering=0, closefd=False))
    # TMPDIR is the home the grader made for this server (`client.server_environment`). Not through tempfile:
    # it imports random, hashlib and shutil, a tenth of this stage's start.
    base = process.new_folder(os.environ.get("TMPDIR") or "/tmp", "backprop-grader-")
    # A child running as another uid must reach its scratch dir by absolute path too (traverse, not list).
    os.chmod(os.path.dirname(base), 0o711)
    setup = namespaces.set_up_server(base, int(request["scratch_bytes"]), request["readable"], request["hidden"])
    if setup["sandbox_id"] is not None and not setup["mountns"]:
        # No tmpfs was mounted over `base` (made 0700): the dropped uid must traverse it to its scratch.
        os.chmod(base, 0o711)
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"setup": setup, "base": base}).encode())
    os.close(write_end)
    os.set_inheritable(read_end, True)
    os.execv(sys.executable, [sys.executable, "-s", "-E", "-m", SERVER_MODULE, str(read_end)])


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle; SIG_IGN outlives exec
    main()
