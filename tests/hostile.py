"""Hostile notebooks and the bookkeeping to prove they changed nothing (used by test_hostile.py).

Every hostile notebook defines a wrong or absent `backward_pass`, so any credit it gets is a
sandbox failure. `{mark}` in a cell is replaced by a per-run marker used in the file names the
attacks try to create; `{sleep}` by a unique number of seconds, so that leftover processes
can be told from anyone else's; `{solutions}`, `{tree}`, `{port}` and `{unix}` (a list of listening Unix sockets)
by the paths, port and socket under test; `{needles}` by pairs of strings that must never be found
one right after the other in the child's memory (a secret cut in two, so that the notebook's own
text never holds it whole).
Whatever an attack manages to read, it raises in an exception starting with LEAKED, which
would then show in the report.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import time
from pathlib import Path

import nbformat

from tests.notebooks import REFERENCE_BODY, function_source, reference_body

GOOD_FUNCTION = function_source(REFERENCE_BODY)
WRONG_FUNCTION = '''
def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):
    return np.zeros_like(hidden_layer_out), np.zeros((len(x), len(hidden_layer_out)))
'''
# Graded alongside the hostile notebooks; their grades must not move.
GOOD = {
    "alice": ["import numpy as np", GOOD_FUNCTION],
    "carol": ["import numpy as np", function_source(reference_body(hidden_error="output_error_term * 2.0"))],
    "dave": ["import numpy as np", WRONG_FUNCTION],
}

_ALWAYS_EQUAL = '''
class Liar(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return False
    def __gt__(self, other): return False
    def __le__(self, other): return True
    def __ge__(self, other): return True
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
    def __abs__(self): return 0.0
    __hash__ = float.__hash__
class Everything(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __sub__(self, other): return np.zeros(np.shape(other))
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs): return np.zeros(2)
    def __array_function__(self, func, types, args, kwargs): return True
class Shape:
    def __array__(self, dtype=None, copy=None): raise SystemExit
    def __len__(self): return 2
    def __float__(self): return 0.0
'''

HOSTILE: dict[str, list[str]] = {
    # Time.
    "loop_module": ["import numpy as np", "while True:\n    pass", WRONG_FUNCTION],
    "loop_function": ["import numpy as np", WRONG_FUNCTION.replace("    return", "    while True:\n        pass\n    return")],
    "sleep_long": ["import numpy as np, time", "time.sleep(1000)",
                   WRONG_FUNCTION.replace("    return", "    time.sleep(1000)\n    return")],
    "ignore_signals": ["import numpy as np, signal",
                       "for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP):\n"
                       "    signal.signal(s, signal.SIG_IGN)\nsignal.setitimer(signal.ITIMER_REAL, 0)\nwhile True:\n    pass"],
    "swallow_budget": ["import numpy as np",
                       "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"],
    "swallow_in_function": ["import numpy as np", WRONG_FUNCTION.replace(
        "    return", "    while True:\n        try:\n            while True:\n                pass\n"
                     "        except BaseException:\n            pass\n    return")],
    # Exits and exceptions.
    "exit_module": ["import numpy as np, sys", "sys.exit(0)", WRONG_FUNCTION, "raise SystemExit(10)"],
    "os_exit_module": ["import numpy as np, os", WRONG_FUNCTION, "os._exit(0)"],
    "exit_function": ["import numpy as np, sys",
                      WRONG_FUNCTION.replace("    return", "    sys.exit('10/10')\n    return")],
    "os_exit_function": ["import numpy as np, os", WRONG_FUNCTION.replace("    return", "    os._exit(0)\n    return")],
    "keyboard_interrupt": ["import numpy as np", "raise KeyboardInterrupt",
                           WRONG_FUNCTION.replace("    return", "    raise KeyboardInterrupt\n    return")],
    "custom_base_exception": ["import numpy as np", "class Boom(BaseException):\n    pass", "raise Boom('module')",
                              WRONG_FUNCTION.replace("    return", "    raise Boom('call')\n    return")],
    "deep_recursion": ["import numpy as np, sys", "sys.setrecursionlimit(10**7)",
                       "def down(n):\n    return down(n + 1) + 1\ndown(0)",
                       WRONG_FUNCTION.replace("    return", "    return down(0)\n    return")],
    # Resources.
    "huge_allocation": ["import numpy as np", "a = np.ones(20 * 10**9 // 8)", "b = bytearray(20 * 10**9)",
                        WRONG_FUNCTION.replace("    return", "    c = np.empty((20 * 10**9 // 8,))\n    c[:] = 1\n    return")],
    "fifty_sleepers": ["import numpy as np, os, subprocess",
                       "kids = []\nfor i in range(50):\n    try:\n        kids.append(subprocess.Popen(['sleep', '{sleep}']))\n"
                       "    except OSError:\n        pass",
                       "for i in range(50):\n    try:\n        if os.fork() == 0:\n            import time\n"
                       "            time.sleep({sleep})\n            os._exit(0)\n    except OSError:\n        pass",
                       WRONG_FUNCTION],
    "setsid_double_fork": ["import numpy as np, os, time, subprocess",
                           "if os.fork() == 0:\n    try:\n        os.setsid()\n    except OSError:\n        pass\n"
                           "    if os.fork() == 0:\n        try:\n            os.setpgid(0, 0)\n        except OSError:\n"
                           "            pass\n        time.sleep({sleep})\n    os._exit(0)",
                           "subprocess.Popen(['sleep', '{sleep}'], start_new_session=True)",
                           "subprocess.Popen(['setsid', '-f', 'sleep', '{sleep}'])",
                           WRONG_FUNCTION],
    "print_200mb": ["import numpy as np, sys, os", "print('x' * 200_000_000)",
                    "for i in range(200):\n    sys.stdout.write('y' * 1_000_000)",
                    "os.write(1, b'z' * 50_000_000)", "sys.stderr.write('e' * 200_000_000)", WRONG_FUNCTION],
    "close_fds": ["import numpy as np, os", WRONG_FUNCTION, "os.closerange(0, 4096)"],
    # Fooling the comparison.
    "always_equal": ["import numpy as np", _ALWAYS_EQUAL,
                     "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                     "    error = Liar(0)\n    output_error_term = Everything(2)\n    hidden_error = Shape()\n"
                     "    hidden_error_term = [Liar(0), Liar(0)]\n"
                     "    return Everything((2,)), [[Liar(0)] * 2] * 3"],
    "monkeypatch": ["import numpy as np, builtins, json",
                    "np.allclose = np.isclose = np.array_equal = lambda *a, **k: True\n"
                    "np.testing.assert_allclose = lambda *a, **k: None\nbuiltins.isinstance = lambda *a: True\n"
                    "builtins.type = lambda *a: float\njson.dumps = lambda *a, **k: '{\"score\": 10}'\n"
                    "json.loads = lambda *a, **k: {'score': 10}",
                    WRONG_FUNCTION],
    "pickle_payload": ["import numpy as np, os, pickle",
                       "class Evil:\n    def __reduce__(self):\n        return (os.system, ('touch /tmp/pwned-{mark}',))",
                       "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                       "    error = pickle.dumps(Evil())\n    output_error_term = Evil()\n"
                       "    return Evil(), pickle.dumps(Evil())"],
    "fake_score": ["import numpy as np",
                   "print('backward_pass  10/10  graded')\nprint('{\"status\": \"graded\", \"score\": 10, \"max_score\": 10}')",
                   WRONG_FUNCTION],
    "fake_results": ["import numpy as np, os, json",
                     "doc = json.dumps({'submissions': [{'student': 'fake_results', 'score': 10}]})\n"
                     "for d in ['.', '..', '../..', '../../..', '/tmp', '{tree}', '{tree}/out']:\n"
                     "    for name in ['results.json', 'gradebook.csv', 'hostile-{mark}']:\n"
                     "        try:\n            open(os.path.join(d, name), 'w').write(doc)\n"
                     "        except OSError:\n            pass",
                     WRONG_FUNCTION],
    "read_solutions": ["import numpy as np, os, glob, sys",
                       "found = []\nfor root in ['{solutions}', '{tree}', '/etc/shadow']:\n"
                       "    for path in ([root] + glob.glob(root + '/**', recursive=True))[:200]:\n"
                       "        try:\n            found.append(path + open(path).read()[:100])\n"
                       "        except OSError:\n            pass",
                       "sys.path.insert(0, '{solutions}/backward_pass')\nimport cases\nfound.append(str(dir(cases)))",
                       "for pid in os.listdir('/proc'):\n    if pid.isdigit() and int(pid) != os.getpid():\n        try:\n"
                       "            found.append(open(f'/proc/{pid}/environ').read()[:50])\n"
                       "            found.append(str(open(f'/proc/{pid}/mem', 'rb')))\n        except (OSError, ValueError):\n"
                       "            pass",
                       "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                       "    if found:\n        raise RuntimeError('LEAKED ' + repr(found)[:300])\n    return None"],
    "delete_files": ["import numpy as np, os, shutil",
                     "for d in ['.', '..', '../..', '{tree}', '{solutions}']:\n"
                     "    for name in os.listdir(d) if os.path.isdir(d) else []:\n"
                     "        p = os.path.join(d, name)\n        try:\n"
                     "            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)\n"
                     "        except OSError:\n            pass",
                     WRONG_FUNCTION],
    "plant_modules": ["import numpy as np, os, sys",
                      "evil = 'import os\\nopen(\"/tmp/hostile-{mark}\", \"w\")\\nallclose = lambda *a, **k: True\\n'\n"
                      "for d in ['.', '..', '../..', '/tmp', '{tree}']:\n"
                      "    for name in ['numpy.py', 'sitecustomize.py', 'usercustomize.py', 'json.py']:\n"
                      "        try:\n            open(os.path.join(d, name), 'w').write(evil)\n"
                      "        except OSError:\n            pass",
                      "import importlib\nsys.path.insert(0, '.')\nimport sitecustomize\nimportlib.reload(np)",
                      WRONG_FUNCTION],
    "socket_probe": ["import numpy as np, socket",
                     "for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET, socket.SOCK_DGRAM),"
                     " (socket.AF_INET6, socket.SOCK_STREAM)):\n    try:\n        s = socket.socket(family, kind)\n"
                     "        s.settimeout(0.5)\n"
                     "        s.connect(('127.0.0.1', {port}) if family == socket.AF_INET else ('::1', {port}))\n"
                     "        s.sendall(b'LEAK')\n    except OSError as e:\n        print('blocked', e)",
                     "import subprocess\ntry:\n    subprocess.run(['python3', '-c', 'import socket; "
                     "socket.create_connection((\"127.0.0.1\", {port})).sendall(b\"LEAK\")'], timeout=1)\n"
                     "except Exception as e:\n    print('blocked', e)",
                     WRONG_FUNCTION],
    # Other processes of the same uid (as an ordinary user, the grader, the fork servers, classmates' children).
    "reach_processes": ["import numpy as np, os, resource, signal, ctypes, platform",
                        "me = os.getpid()\nreached = []\n"
                        "targets = {os.getppid()}\n"
                        "try:\n    targets.add(int(open(f'/proc/{os.getppid()}/stat').read().rsplit(')', 1)[1].split()[1]))\n"
                        "except (OSError, ValueError, IndexError):\n    pass\n"
                        "targets |= {int(p) for p in os.listdir('/proc') if p.isdigit()}\n"
                        "targets -= {me, 0}",
                        "def attempt(what, call):\n    try:\n        call()\n        reached.append(what)\n"
                        "    except (OSError, ValueError, OverflowError):\n        pass",
                        "libc = ctypes.CDLL(None, use_errno=True)\n"
                        "nr = {'x86_64': {'ioprio_set': 251, 'tgkill': 234, 'pidfd_open': 434, 'pidfd_send_signal': 424,"
                        " 'process_madvise': 440},\n      'aarch64': {'ioprio_set': 30, 'tgkill': 131, 'pidfd_open': 434,"
                        " 'pidfd_send_signal': 424, 'process_madvise': 440}}[platform.machine()]\n"
                        "def raw(name, *args):\n    if libc.syscall(nr[name], *args) < 0:\n"
                        "        raise OSError(ctypes.get_errno(), name)\n"
                        "for pid in sorted(targets):\n"
                        "    for kind in (resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU,\n"
                        "                 resource.RLIMIT_NOFILE):\n"
                        "        attempt(f'prlimit {pid} {kind}', lambda: resource.prlimit(pid, kind, (0, 0)))\n"
                        "    attempt(f'renice {pid}', lambda: os.setpriority(os.PRIO_PROCESS, pid, 19))\n"
                        "    attempt(f'pgrp {pid}', lambda: os.setpriority(os.PRIO_PGRP, pid, 19))\n"
                        "    attempt(f'idle {pid}', lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)))\n"
                        "    attempt(f'param {pid}', lambda: os.sched_setparam(pid, os.sched_param(0)))\n"
                        "    attempt(f'affinity {pid}', lambda: os.sched_setaffinity(pid, {0}))\n"
                        "    for which in (1, 2, 3):\n"
                        "        attempt(f'ioprio {which} {pid}', lambda: raw('ioprio_set', which, pid, (3 << 13)))\n"
                        "    attempt(f'stop {pid}', lambda: os.kill(pid, 0))\n"
                        "    attempt(f'tgkill {pid}', lambda: raw('tgkill', pid, pid, 0))\n"
                        "    attempt(f'pidfd {pid}', lambda: raw('pidfd_open', pid, 0))\n"
                        "attempt('renice user', lambda: os.setpriority(os.PRIO_USER, os.getuid(), 19))\n"
                        "attempt('renice user 0', lambda: os.setpriority(os.PRIO_USER, 0, 19))",
                        "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                        "    if reached:\n        raise RuntimeError('LEAKED ' + repr(reached)[:300])\n    return None"],
    # Named Unix sockets: the session D-Bus, ssh-agent, docker.sock, or the test's own listener.
    "unix_sockets": ["import numpy as np, os, socket, glob",
                     "reached = []\npaths = {unix} + glob.glob('/tmp/**', recursive=True)[:300] + "
                     "glob.glob('/run/**', recursive=True)[:300] + glob.glob('/var/run/*')[:100]\n"
                     "for path in paths:\n"
                     "    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):\n"
                     "        try:\n            s = socket.socket(socket.AF_UNIX, kind)\n            s.settimeout(0.2)\n"
                     "            s.connect(path)\n            s.sendall(b'LEAK')\n            reached.append(path)\n"
                     "        except OSError:\n            pass\n"
                     "    try:\n        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                     "        a.sendto(b'LEAK', path)\n        reached.append('dgram ' + path)\n"
                     "    except OSError:\n        pass\n"
                     "    try:\n        a, b = socket.socketpair()\n        a.connect(path)\n"
                     "        reached.append('pair ' + path)\n    except OSError:\n        pass",
                     "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                     "    if reached:\n        raise RuntimeError('LEAKED ' + repr(reached)[:300])\n    return None"],
    # Kernel memory: folders and files by the hundred thousand in the scratch dir.
    "inode_flood": ["import numpy as np, os",
                    "failures = 0\nfor i in range(200_000):\n    try:\n"
                    "        os.mkdir(f'd{i}') if i % 2 else open(f'f{i}', 'w').close()\n"
                    "    except OSError:\n        failures += 1\n        if failures > 200:\n            break",
                    WRONG_FUNCTION],
    # What a determined student looks for: the solutions path, the seed, a classmate's code.
    "read_leaks": ["import numpy as np, os, gc, sys, ctypes",
                   "pairs = [(a.encode(), b.encode()) for a, b in {needles}]\nfound = []\n"
                   "canary = ('canary-' + '{mark}').encode()\nalive = canary[:9] + canary[9:]\nseen = []\n"
                   "def scan(data, where):\n    if alive in data:\n        seen.append(where)\n"
                   "    for a, b in pairs:\n        i = data.find(a)\n"
                   "        while i >= 0:\n            if data[i + len(a):i + len(a) + len(b)] == b:\n"
                   "                found.append(where)\n                break\n            i = data.find(a, i + 1)",
                   "for pid in os.listdir('/proc'):\n    for name in ('cmdline', 'environ'):\n        try:\n"
                   "            scan(open(f'/proc/{pid}/{name}', 'rb').read(), f'/proc/{pid}/{name}')\n"
                   "        except OSError:\n            pass",
                   "frame = sys._getframe()\nwhile frame is not None:\n"
                   "    scan(repr(frame.f_locals).encode(errors='replace'), 'frame ' + frame.f_code.co_name)\n"
                   "    frame = frame.f_back\n"
                   "for thing in gc.get_objects()[:200_000]:\n    if isinstance(thing, (str, bytes, bytearray)):\n"
                   "        scan(thing.encode(errors='replace') if isinstance(thing, str) else bytes(thing), 'object')",
                   "for line in open('/proc/self/maps'):\n    span, perms = line.split()[:2]\n"
                   "    if not perms.startswith('rw'):\n        continue\n"
                   "    start, end = (int(part, 16) for part in span.split('-'))\n"
                   "    for at in range(start, end, 1 << 22):\n"
                   "        scan(ctypes.string_at(at, min(1 << 22, end - at)), 'memory')",
                   "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, w):\n"
                   "    if found:\n        raise RuntimeError('LEAKED ' + repr(sorted(set(found)))[:300])\n"
                   "    raise RuntimeError('SCANNED ' + ('memory' if 'memory' in seen else 'NOT memory'))"],
    "kill_everything": ["import numpy as np, os, signal",
                        "for target in (-1, 1, os.getppid(), -os.getppid()):\n    try:\n        os.kill(target, signal.SIGKILL)\n"
                        "    except OSError:\n        pass",
                        "for pid in os.listdir('/proc'):\n    if pid.isdigit() and int(pid) != os.getpid():\n        try:\n"
                        "            os.kill(int(pid), signal.SIGKILL)\n        except OSError:\n            pass",
                        WRONG_FUNCTION],
}
# The fork servers' children run as uids from here up when the grader is root.
SANDBOX_UIDS = 1_900_000_000
# A quick cross-section for the unprivileged re-run.
NON_ROOT = ("loop_function", "fifty_sleepers", "setsid_double_fork", "read_solutions", "fake_results",
            "plant_modules", "socket_probe", "kill_everything", "close_fds", "reach_processes", "unix_sockets",
            "inode_flood", "read_leaks")


def write_notebook(path: Path, cells: list[str], **values: object) -> Path:
    """A notebook of `cells`, each `{name}` of `values` filled in (other braces are left alone)."""
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(_fill(cell, values)) for cell in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, str(path))
    return path


def _fill(text: str, values: dict[str, object]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under `roots`: size and content hash (caches of Python and tools left out)."""
    files = {}
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if name not in ("__pycache__", ".pytest_cache", ".ruff_cache", ".git")]
            for name in names:
                path = os.path.join(folder, name)
                try:
                    data = Path(path).read_bytes()
                except OSError:
                    continue
                files[path] = (len(data), hashlib.sha256(data).hexdigest())
    return files


def become_subreaper() -> None:
    """Orphans of the sandbox are then reparented to this process, so leftovers cannot hide under init."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, uid, command line) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
                uid = os.stat(f"/proc/{entry}").st_uid
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError):
                continue
            if stat[0] != b"Z":
                table[int(entry)] = (int(stat[1]), uid, command.strip())
    return table


def leftovers(token: str, settle: float = 3.0) -> list[tuple[int, str]]:
    """Processes still alive after up to `settle` s that descend from us, run as a sandbox uid or carry `token`."""
    deadline = time.monotonic() + settle
    while True:
        table = _table()
        found = [(pid, command) for pid, (_, uid, command) in table.items()
                 if pid != os.getpid() and (_descends(pid, os.getpid(), table) or uid >= SANDBOX_UIDS or token in command)]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _descends(pid: int, ancestor: int, table: dict[int, tuple[int, int, str]]) -> bool:
    for _ in range(64):
        parent = table.get(pid, (0,))[0]
        if parent == ancestor:
            return True
        if parent <= 1:
            return False
        pid = parent
    return False
