"""Filing one spooled utterance: transcribed, redacted, dropped if it was forgotten meanwhile or
another input already stored the same speech, committed to the store, marked for its index, and
then removed from the spool (its audio kept where the profile keeps audio)."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from daemon.core.errors import EarmarkError, ModelError
from daemon.core.profiles import DEFAULT_PROFILE, Profile
from daemon.storage.forgetting import Forgetter
from daemon.storage.spool import Spool, SpooledUtterance
from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment
from daemon.transcribe.indexing import Indexing
from daemon.transcribe.overlap import OtherInputs
from daemon.transcribe.redaction import redactor_for
from daemon.transcribe.transcriber import TranscribedSegment
from daemon.transcribe.transcribers import Transcribers
from daemon.transcribe.transcription_server import ServerAway, ServerRefused

__all__ = ["Filing", "ItemFailed", "clock"]

log = logging.getLogger(__name__)


class ItemFailed(Exception):
    """One spool item cannot be transcribed (its audio, or its profile)."""


def clock(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


class Filing:
    """Files claimed spool items in the store; the transcribe stage decides which and when."""

    def __init__(
        self,
        *,
        spool: Spool,
        store: Store,
        audio_root: Path,
        profile_for: Callable[[str], Profile],
        forgetter: Forgetter | None,
        transcribers: Transcribers,
        indexing: Indexing,
        note: Callable[[str], None],
        out_of_time: Callable[[], bool],
        pause: Callable[[float], object],
    ):
        self.spool = spool
        self.store = store
        self.audio_root = audio_root
        self.profile_for = profile_for
        self.forgetter = forgetter
        self.transcribers = transcribers
        self.indexing = indexing
        self.other_inputs = OtherInputs(store, self._remove)
        self.note = note  # for the status's notes
        self.out_of_time = out_of_time  # the stage is stopping and its drain time is up
        self.pause = pause  # waits, or less if the stage is stopped meanwhile

    def file(
        self, item: SpooledUtterance, heard: Callable[[], tuple] | None = None
    ) -> SpooledUtterance | None:
        """Transcribe and commit one claimed item, then remove it from the spool; `heard`, if
        given, gives its transcript (sent to a server beside other items, or to the fallback).
        Returns the item as stored (its profile may have changed), or None when nothing new
        was stored (stored before a crash, forgotten meanwhile, or heard better elsewhere)."""
        item, profile = self._profile_of(item)
        keep = self._audio_path(item) if profile.retention.keep_audio else None
        if self.store.utterances.has(item.uid):  # committed before a crash; just finish up
            self.spool.remove(item, keep_audio_at=keep)
            return None
        segments, language, model = self._transcript(item, profile, heard)
        segments, redacted = redactor_for(profile.redaction).segments(segments)
        if redacted:
            keep = None  # the audio would say what the transcript no longer does
        with self.forgetter.lock if self.forgetter else contextlib.nullcontext():
            if self.forgetter is not None and self.forgetter.covers(item.start, item.end):
                self.spool.remove(item)  # forgotten while it was being transcribed
                return None
            if not self.other_inputs.keep(item, segments):
                self.spool.remove(item)
                return None
            self._commit(item, segments, language, model, keep)
            self.spool.remove(item, keep_audio_at=keep)
        self.indexing.stored(item)
        return item

    def _profile_of(self, item: SpooledUtterance) -> tuple[SpooledUtterance, Profile]:
        """The item's profile; one deleted or broken since goes to the default profile."""
        try:
            return item, self.profile_for(item.profile)
        except EarmarkError as exc:
            try:
                profile = self.profile_for(DEFAULT_PROFILE)
            except EarmarkError as default_exc:
                raise ItemFailed(f"its profile cannot be loaded ({exc})") from default_exc
            self.note(
                f"the utterance heard at {clock(item.start)} was filed under {DEFAULT_PROFILE}: "
                f"{exc}"
            )
            log.warning("%s; spool item %s goes to %s", exc, item.uid, DEFAULT_PROFILE)
            return dataclasses.replace(item, profile=DEFAULT_PROFILE), profile

    def _transcript(
        self, item: SpooledUtterance, profile: Profile, heard: Callable[[], tuple] | None
    ) -> tuple[list[TranscribedSegment], str | None, str]:
        """The item's segments, language and model; trouble with its audio fails the item."""
        try:
            if heard is None:
                return self.transcribers.transcribe(item, profile.transcription)
            return heard()
        except (ModelError, ServerAway, ServerRefused):
            raise
        except Exception as exc:  # anything about this item's audio: the next items go on
            raise ItemFailed(f"it cannot be transcribed ({exc})") from exc

    def _commit(
        self,
        item: SpooledUtterance,
        segments: list[TranscribedSegment],
        language: str | None,
        model: str,
        keep: Path | None,
    ) -> None:
        """Store an utterance, waiting out another process's write lock (the item stays spooled)."""
        utterance = dict(
            uid=item.uid,
            profile=item.profile,
            source=item.source,
            start=item.start,
            end=item.end,
            model=model,
            language=language,
            audio_path=str(keep) if keep else None,
            segments=[
                NewSegment(
                    start=item.start + s.start,
                    end=item.start + min(s.end, item.duration),
                    text=s.text,
                    avg_logprob=s.avg_logprob,
                    no_speech_prob=s.no_speech_prob,
                    compression_ratio=s.compression_ratio,
                    words=[(item.start + a, item.start + b, w, p) for a, b, w, p in s.words],
                    flag=s.flag,
                )
                for s in segments
            ],
        )
        for attempt in itertools.count():
            try:
                self.store.utterances.add(**utterance)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or self.out_of_time():
                    raise
                log.warning("the store is busy (%s); retrying", exc)
                self.pause(min(5.0, 0.5 * 2**attempt))

    def _remove(self, utterances: list) -> None:
        """Take stored utterances out of the store, the indexes and the audio folder."""
        for utterance in utterances:
            removed = self.store.utterances.remove(utterance.id)
            for profile, ids in removed.segment_ids.items():
                self.indexing.delete(profile, ids)
            for path in removed.audio_paths:
                Path(path).unlink(missing_ok=True)

    def _audio_path(self, item: SpooledUtterance) -> Path:
        day = time.strftime("%Y-%m-%d", time.localtime(item.start))
        return self.audio_root / item.profile / day / f"{item.uid}.wav"
