"""What the user chose about recording, kept across restarts: profile, on/off, pause.

Stored as a small JSON file (0600) written atomically. The tray toggle, the pause menu and
`earmark toggle|pause|resume|profile use` all change it through the running daemon.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from daemon.core.paths import write_private
from daemon.core.profiles import DEFAULT_PROFILE

__all__ = ["RecordingState", "OFF", "PAUSED"]

log = logging.getLogger(__name__)

OFF = "recording off"
PAUSED = "paused"


@dataclass(frozen=True)
class RecordingState:
    profile: str = DEFAULT_PROFILE
    recording: bool = True  # the Recording toggle
    paused: bool = False
    pause_ends: float | None = None  # with `paused`: when it ends; None means until resumed

    @classmethod
    def load(cls, path: Path) -> RecordingState:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%s); starting with recording on", path, exc)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        ends = raw.get("pause_ends")
        return cls(
            profile=str(raw.get("profile") or DEFAULT_PROFILE),
            recording=bool(raw.get("recording", True)),
            paused=bool(raw.get("paused", False)),
            pause_ends=float(ends) if isinstance(ends, (int, float)) else None,
        )

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(asdict(self)))

    def halt_reason(self, now: float | None = None) -> str | None:
        """Why capture should not listen now, in the words the ledger and tooltip use."""
        if not self.recording:
            return OFF
        if not self.paused:
            return None
        if self.pause_ends is None:
            return f"{PAUSED} until resumed"
        if (now or time.time()) < self.pause_ends:
            return f"{PAUSED} until " + time.strftime("%H:%M", time.localtime(self.pause_ends))
        return None

    def expired(self, now: float | None = None) -> bool:
        """A timed pause that has run out."""
        return (
            self.paused and self.pause_ends is not None and (now or time.time()) >= self.pause_ends
        )

    # -- changes (each returns a new state) ---------------------------------------------------

    def toggled(self) -> RecordingState:
        """Recording on if it is off or paused, otherwise off."""
        if self.halt_reason() is None:
            return replace(self, recording=False, paused=False, pause_ends=None)
        return self.resumed()

    def paused_for(self, seconds: float | None, now: float | None = None) -> RecordingState:
        ends = None if seconds is None else (now or time.time()) + seconds
        return replace(self, recording=True, paused=True, pause_ends=ends)

    def resumed(self) -> RecordingState:
        return replace(self, recording=True, paused=False, pause_ends=None)

    def using(self, profile: str) -> RecordingState:
        return replace(self, profile=profile)
