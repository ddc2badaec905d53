"""The transcribers the transcribe stage uses: one per transcription settings (the local model,
or a server), made and loaded on first use."""

from __future__ import annotations

import logging
from collections.abc import Callable

from daemon.core.profiles import Transcription
from daemon.storage.spool import SpooledUtterance
from daemon.transcribe.transcriber import TranscribedSegment, Transcriber
from daemon.transcribe.transcription_server import ServerTranscriber

__all__ = ["Transcribers"]

log = logging.getLogger(__name__)


class Transcribers:
    """Transcribers by settings; `model_state` says whether the latest one is still loading."""

    def __init__(self, *, live: bool, note: Callable[[str], None]):
        self.live = live  # speech heard now, as it comes, rather than a file imported
        self.note = note  # for the status's notes
        self.model_state = "not loaded"
        self._transcribers: dict[Transcription, Transcriber | ServerTranscriber] = {}
        self._told_no_timings: set[ServerTranscriber] = set()

    @property
    def whisper_calls(self) -> int:
        return sum(t.calls for t in list(self._transcribers.values()))

    def get(self, settings: Transcription) -> Transcriber | ServerTranscriber:
        transcriber = self._transcribers.get(settings)
        if transcriber is None:
            if settings.server.url:
                transcriber = ServerTranscriber(settings)
            else:
                transcriber = Transcriber(settings, live=self.live)
            self._transcribers[settings] = transcriber
        if not transcriber.loaded:
            self.model_state = "loading"
            transcriber.load()
        self.model_state = "loaded"
        return transcriber

    def transcribe(
        self, item: SpooledUtterance, settings: Transcription
    ) -> tuple[list[TranscribedSegment], str | None, str]:
        """The item's segments, their language, and the model that heard them."""
        transcriber = self.get(settings)
        segments, language = transcriber.transcribe(item.read_audio())
        if getattr(transcriber, "no_timings", False) and transcriber not in self._told_no_timings:
            self._told_no_timings.add(transcriber)
            log.warning("%s gives no segment timings: each utterance is one segment", transcriber)
            self.note(f"{transcriber} gives no segment timings: each utterance is one segment")
        return segments, language, transcriber.label
