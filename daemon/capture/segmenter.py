"""The segmenter: Silero VAD cuts a stream of audio into utterances; silence never passes.

Uses the Silero ONNX model that ships inside faster-whisper, run window by window (512 samples,
32 ms at 16 kHz) with its recurrent state carried across calls, so a live stream is judged the
same way a whole file would be.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass

import numpy as np

from daemon.core.profiles import Segmentation
from daemon.storage.spool import SAMPLE_RATE

__all__ = ["Segmenter", "Utterance", "SpeechDetector"]

log = logging.getLogger(__name__)

WINDOW = 512
_CONTEXT = 64
_WINDOW_S = WINDOW / SAMPLE_RATE
_SPLIT_PAUSE_WINDOWS = 4  # a pause of >= 128 ms is a good place to split long speech
# Speech that has run `progressive_after_s` ends at its next pause of >= 352 ms. At 256 ms, real
# talk was cut inside its sentences and the parts came out worse than the whole stretch (word error
# rate 0.094 against 0.084 on ten minutes of real clips, bench/progressive_cuts.py); at 352 ms they
# are as good (0.084). At 384 ms, some sentences 0.3 s apart were not cut at all and waited
# seconds for the next pause.
_SHORT_PAUSE_WINDOWS = 11
# Windows judged per detector call: each ONNX call costs far more than a window does, so
# batching ~0.25 s keeps an idle daemon light, at ~0.25 s more delay in noticing a pause.
_BATCH_WINDOWS = 8
# The detector's recurrent state adapts to the speech it has heard: after half a minute of someone
# speaking up, a quiet voice seconds later scores 0.1 - 0.3 where a fresh state scores 0.55 - 0.8.
# Once this much quiet has passed since the last speech, the state starts afresh.
_RESET_AFTER_WINDOWS = 31  # ~1 s


@dataclass(frozen=True)
class Utterance:
    """Speech cut from a stream: int16 samples and the wall-clock time of the first one."""

    start: float
    samples: np.ndarray
    source: str
    speech_end: float = 0.0  # when the last voiced window ended (before the kept tail)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


class SpeechDetector:
    """Silero VAD speech probabilities for consecutive 512-sample windows, state carried over."""

    def __init__(self):
        import onnxruntime
        from faster_whisper.utils import get_assets_path

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.enable_cpu_mem_arena = False
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
            providers=["CPUExecutionProvider"],
            sess_options=opts,
        )
        self.reset()

    def reset(self) -> None:
        self.forget_voices(np.zeros(_CONTEXT, dtype=np.float32))

    def forget_voices(self, last_window: np.ndarray) -> None:
        """Start the recurrent state afresh after `last_window`, so the windows that follow are
        judged as if they opened the stream: a quiet voice is not measured against a loud one."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = last_window[-_CONTEXT:].copy()

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities for an (n, 512) float32 array of consecutive windows."""
        contexts = np.concatenate([self._context[None, :], windows[:-1, -_CONTEXT:]], axis=0)
        batch = np.concatenate([contexts, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -_CONTEXT:].copy()
        return np.asarray(out, dtype=np.float32).reshape(-1)


class Segmenter:
    """Feeds frames in, gets utterances out.

    An utterance starts when a window's speech probability reaches the threshold (with
    `pre_roll_ms` of audio before it), and ends after `min_silence_ms` of silence, or at the
    first short pause once it has run `progressive_after_s` when `live`: someone who talks on
    without a long pause has each part of it transcribed while they go on. Speech longer than
    `max_utterance_s` is split at its last pause, or cut hard when it has none.
    """

    def __init__(
        self, settings: Segmentation, *, detector: SpeechDetector | None = None, live: bool = True
    ):
        self.settings = settings
        self.detector = detector or SpeechDetector()
        self._neg_threshold = max(settings.threshold - 0.15, 0.01)
        self._pre_roll = max(0, round(settings.pre_roll_ms / 1000 / _WINDOW_S))
        self._end_silence = max(1, round(settings.min_silence_ms / 1000 / _WINDOW_S))
        self._max_windows = int(settings.max_utterance_s / _WINDOW_S)
        # a recording cut after the fact (a file, a wearable's upload) has no one waiting on
        # each part: it ends only at long pauses, which the model transcribes better
        self._progressive_windows = (
            round(settings.progressive_after_s / _WINDOW_S)
            if settings.progressive_after_s and live
            else None
        )
        self._min_speech = round(settings.min_speech_ms / 1000 / _WINDOW_S)
        self._keep_tail = max(1, min(self._end_silence, round(0.2 / _WINDOW_S)))
        self.windows_seen = 0
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_start = 0.0
        self._source = ""
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=self._pre_roll)
        self._speech: list[tuple[float, np.ndarray, bool]] | None = None
        self._silence_run = 0
        self._quiet_run = 0  # windows since the last speech, while out of it
        self._fresh = True  # the detector has heard no speech since its state was started
        self.detector.reset()

    @property
    def in_speech(self) -> bool:
        return self._speech is not None

    def current_speech(self) -> tuple[float, list[np.ndarray]] | None:
        """The utterance being heard right now (start, its windows so far), or None in silence."""
        if self._speech is None:
            return None
        return self._speech[0][0], [w for _, w, _ in self._speech]

    def feed(self, start: float, samples: np.ndarray, source: str) -> list[Utterance]:
        """Add int16 mono 16 kHz samples whose first sample was heard at `start`."""
        if self._source and source != self._source:
            done = self.flush()
        else:
            done = []
        self._source = source
        if len(self._pending) == 0:
            self._pending_start = start
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.int16)])
        if len(self._pending) < _BATCH_WINDOWS * WINDOW:
            return done
        return done + self._analyse()

    def _analyse(self) -> list[Utterance]:
        """Run the detector over every whole window pending, in one batch."""
        done: list[Utterance] = []
        count = len(self._pending) // WINDOW
        if count == 0:
            return done
        block = self._pending[: count * WINDOW].reshape(count, WINDOW)
        block_start = self._pending_start
        self._pending = self._pending[count * WINDOW :]
        self._pending_start = block_start + count * _WINDOW_S
        floats = block.astype(np.float32) / 32768.0
        probs = self.detector(floats)
        self.windows_seen += count
        for i in range(count):
            done.extend(self._step(block_start + i * _WINDOW_S, block[i], float(probs[i])))
            if self._speech is None and not self._fresh and self._quiet_run >= _RESET_AFTER_WINDOWS:
                # the windows after this one are judged again, so the cut falls the same
                # whatever the size of the blocks the audio came in
                self.detector.forget_voices(floats[i])
                self._fresh = True
                if i + 1 < count:
                    probs[i + 1 :] = self.detector(floats[i + 1 :])
        return done

    def _step(self, t: float, window: np.ndarray, prob: float) -> list[Utterance]:
        if self._speech is None:
            if prob >= self.settings.threshold:
                self._speech = [(wt, w, False) for wt, w in self._history]
                self._speech.append((t, window, True))
                self._silence_run = 0
                self._fresh = False
                self._history.clear()
            else:
                self._history.append((t, window))
                self._quiet_run += 1
            return []
        silent = prob < self._neg_threshold or (
            prob < self.settings.threshold and self._silence_run
        )
        self._speech.append((t, window, not silent))
        self._silence_run = self._silence_run + 1 if silent else 0
        said = len(self._speech) - self._silence_run
        ran_long = self._progressive_windows is not None and said >= self._progressive_windows
        if self._silence_run >= self._end_silence or (
            ran_long and self._silence_run == _SHORT_PAUSE_WINDOWS
        ):
            return self._close(said + self._keep_tail)
        if len(self._speech) >= self._max_windows:
            return self._split_long()
        return []

    def _close(self, end: int) -> list[Utterance]:
        """Emit the current speech up to window `end`; the quiet after its last voiced window
        becomes pre-roll history (the tail it kept too: after a short pause, the next
        utterance's pre-roll may begin inside this one's tail rather than lose its onset)."""
        speech, self._speech = self._speech, None
        self._silence_run = 0
        self._history.clear()
        last_voiced = max((k for k, (_, _, voiced) in enumerate(speech) if voiced), default=-1)
        quiet = speech[last_voiced + 1 :]
        self._quiet_run = len(quiet)
        for wt, w, _ in quiet[-self._pre_roll :] if self._pre_roll else []:
            self._history.append((wt, w))
        kept = speech[:end]
        voiced = [t for t, _, is_voiced in kept if is_voiced]
        if len(voiced) < max(1, self._min_speech):
            return []
        return [
            Utterance(
                start=kept[0][0],
                samples=np.concatenate([w for _, w, _ in kept]),
                source=self._source,
                speech_end=voiced[-1] + _WINDOW_S,
            )
        ]

    def _split_long(self) -> list[Utterance]:
        """Cut speech at the start of its last pause (>= 128 ms), or hard at the limit."""
        speech = self._speech
        cut, run = None, 0
        for i in range(len(speech) - 1, len(speech) // 2, -1):
            run = run + 1 if not speech[i][2] else 0
            if run >= _SPLIT_PAUSE_WINDOWS:
                cut = i + run // 2
                break
        if cut is None:
            cut = len(speech)
        tail = speech[cut:]
        done = self._close(cut)
        if tail:
            self._speech = tail
            self._history.clear()
            self._silence_run = 0
            for *_, voiced in reversed(tail):
                if voiced:
                    break
                self._silence_run += 1
        return done

    def flush(self) -> list[Utterance]:
        """End of stream or a gap in it: emit any speech in progress and start afresh."""
        done = self._analyse()
        if self._speech is not None:
            done += self._close(
                len(self._speech) - self._silence_run + min(self._silence_run, self._keep_tail)
            )
        self._reset_stream()
        return done
