"""Transcripts written straight into a store, for tests of what is built on them."""

from __future__ import annotations

from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment


def add_said(
    store: Store,
    uid: str,
    profile: str,
    start: float,
    text: str,
    *,
    seconds: float = 3.0,
    source: str = "microphone",
    audio_path: str | None = None,
) -> None:
    """One utterance of one segment, as if heard at `start`."""
    store.utterances.add(
        uid=uid,
        profile=profile,
        source=source,
        start=start,
        end=start + seconds,
        model="tiny.en",
        language="en",
        audio_path=audio_path,
        segments=[NewSegment(start, start + seconds, text, -0.2, 0.05, 1.3, [])],
    )
