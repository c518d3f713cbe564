"""An exclusive lock on a workdir, safe after a SIGKILL.

`WorkdirLock(workdir)` holds `workdir/.lock` with an OS advisory lock (`fcntl.flock`),
which the kernel releases when the holding process dies, however it dies; the file
records the holder's pid and hostname so that a second run can say who holds it::

    with WorkdirLock("runs/x"):        # WorkdirInUseError if another run holds it
        ...

The lock is re-entrant within one process (the experiment CLI and the training loop
both take it). With several processes (`jax.distributed`) only process 0 takes it.
Where the file system has no `flock` (some network file systems), the recorded pid is
checked instead: a lock left by a dead process on this host is taken over.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time

LOCK_NAME = ".lock"

# Locks held by this process: absolute workdir -> [file descriptor, depth].
_HELD: dict[str, list[int]] = {}


class WorkdirInUseError(RuntimeError):
    """Another live run holds the workdir's lock."""


def _read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _in_use(workdir: str, holder: dict) -> WorkdirInUseError:
    who = f"pid {holder.get('pid', '?')} on {holder.get('hostname', '?')}"
    return WorkdirInUseError(
        f"workdir {workdir} is in use by {who}; wait for that run to end or use another --workdir"
    )


class WorkdirLock:
    """Context manager holding the exclusive lock of `workdir` (created if missing)."""

    def __init__(self, workdir: str):
        self.workdir = os.path.abspath(workdir)
        self.path = os.path.join(self.workdir, LOCK_NAME)

    def acquire(self) -> WorkdirLock:
        if self.workdir in _HELD:
            _HELD[self.workdir][1] += 1
            return self
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise _in_use(self.workdir, _read_holder(self.path)) from None
            if e.errno != errno.ENOLCK:  # no flock here: fall back to the recorded pid
                os.close(fd)
                raise
            holder = _read_holder(self.path)
            same_host = holder.get("hostname") == socket.gethostname()
            if holder.get("pid") and not (same_host and not _pid_alive(int(holder["pid"]))):
                os.close(fd)
                raise _in_use(self.workdir, holder) from None
        record = {"pid": os.getpid(), "hostname": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        _HELD[self.workdir] = [fd, 1]
        return self

    def release(self) -> None:
        held = _HELD.get(self.workdir)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[self.workdir]
        try:
            os.ftruncate(held[0], 0)
        finally:
            os.close(held[0])  # closing the descriptor releases the flock

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
