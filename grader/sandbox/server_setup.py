"""What a fork server achieved before forking children: its launcher's facts, as the server and its children read them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerSetup:
    """What the fork server achieved before forking children (reported, and used by every child).

    Made in the server from the launcher's `wire.ServerFacts` (`ServerSetup(**facts)`).
    """

    root: bool
    """Real root when the server started: children drop to `sandbox_id`."""
    sandbox_id: int | None = None
    userns: bool = False
    netns: bool = False
    ipcns: bool = False
    mountns: bool = False
    """Private mount namespace with a read-only file system and a size-capped scratch tmpfs."""
    pidns: bool = False
    """The server is pid 1 of a PID namespace of its own, with a /proc of that namespace."""
    nproc: int | None = None
    """RLIMIT_NPROC children get, None when not set."""
    problems: dict[str, str] = field(default_factory=dict)
    """Layer name -> why it is missing."""
    readable: list[str] = field(default_factory=list)
    """The folders children may read (`client.readable_paths`): left visible by the mounts, readable through
    Landlock."""
