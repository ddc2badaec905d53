"""Files Earmark could not use: kept in `data/damaged/` with the reason, never deleted.

A spool item, a speech journal or an upload that cannot be read is moved here, so that one bad
file never stops a stage and nothing heard is thrown away: the user (or `earmark doctor`) can
look at it, and a later version may still recover it. Each file keeps its name behind a time
stamp, and a `.reason` file beside it says what was wrong.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DamagedFiles", "DamagedEntry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DamagedEntry:
    """One group of files set aside together, and why."""

    files: tuple[str, ...]
    reason: str
    at: float


class DamagedFiles:
    """The `damaged/` folder."""

    def __init__(self, directory: Path):
        self.directory = directory

    def keep(self, paths: Sequence[Path], reason: str) -> list[Path]:
        """Move the files that exist among `paths` here, with `reason`; returns where they went."""
        present = [p for p in paths if p.exists()]
        if not present:
            return []
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = []
        for path in present:
            target = self._free_name(f"{stamp}-{path.name.lstrip('.')}")
            os.replace(path, target)
            moved.append(target)
        note = self._free_name(f"{moved[0].name}.reason")
        note.write_text(
            f"{reason}\nset aside {time.strftime('%Y-%m-%d %H:%M:%S')}; files: "
            + ", ".join(m.name for m in moved)
            + "\n",
            encoding="utf-8",
        )
        log.error("%s: %s; kept in %s", present[0].name, reason, self.directory)
        return moved

    def _free_name(self, name: str) -> Path:
        target, n = self.directory / name, 1
        while target.exists():
            n += 1
            target = self.directory / f"{n}-{name}"
        return target

    def entries(self) -> list[DamagedEntry]:
        """What is here, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for note in sorted(self.directory.glob("*.reason")):
            try:
                lines = note.read_text(encoding="utf-8", errors="replace").splitlines()
                at = note.stat().st_mtime
            except OSError:
                continue
            files = lines[1].split("files: ", 1)[1].split(", ") if len(lines) > 1 else []
            found.append(DamagedEntry(tuple(files), lines[0] if lines else "", at))
        return found
