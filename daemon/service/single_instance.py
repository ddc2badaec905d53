"""One daemon per user: an exclusive lock on run/daemon.lock that holds the owner's pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from daemon.core.errors import DaemonAlreadyRunning

__all__ = ["SingleInstance"]


class SingleInstance:
    """An exclusive lock on run/daemon.lock holding the owner's pid; released when it dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DaemonAlreadyRunning(f"Earmark is already running (pid {owner})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
