"""The retention job: each profile's expired transcripts and audio leave every place they were.

A profile keeps transcripts for `retention.transcript_days` and audio for
`retention.audio_days` (0: for ever). Transcripts go from the store, the search index and the
spool; audio files are deleted. The daemon runs the job when it starts and then daily;
`earmark retention` runs it at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from daemon.core.errors import EarmarkError
from daemon.core.profiles import load_profile
from daemon.storage.forgetting import Forgetter
from daemon.storage.store import Store

__all__ = ["Expired", "enforce_retention", "RETENTION_EVERY_S"]

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 24 * 3600
_DAY_S = 86400


@dataclass(frozen=True)
class Expired:
    profile: str
    transcripts: int
    audio_files: int


def enforce_retention(
    store: Store, forgetter: Forgetter, profiles_dir: Path, *, now: float | None = None
) -> list[Expired]:
    """Apply every profile's retention; profiles whose file is gone or broken keep everything."""
    now = time.time() if now is None else now
    expired = []
    for name in store.utterances.profiles():
        try:
            retention = load_profile(name, profiles_dir).retention
        except EarmarkError as exc:
            log.warning("retention skipped for %s: %s", name, exc)
            continue
        transcripts = audio = 0
        if retention.transcript_days:
            transcripts = forgetter.expire(name, now - retention.transcript_days * _DAY_S)
        if retention.audio_days:
            for path in store.utterances.drop_audio(name, now - retention.audio_days * _DAY_S):
                Path(path).unlink(missing_ok=True)
                audio += 1
        if transcripts or audio:
            log.info("retention: %s lost %d transcripts, %d audio files", name, transcripts, audio)
            expired.append(Expired(name, transcripts, audio))
    return expired
