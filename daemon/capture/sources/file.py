"""FileSource: a recording imported with `earmark import` (wav, flac, mp3, ogg, m4a, ...)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from daemon.capture.sources.base import ENDED, LISTENING, AudioBlock, Source
from daemon.core.errors import ImportFailed
from daemon.storage.spool import SAMPLE_RATE

__all__ = ["FileSource", "IMPORTED", "decode_file"]

_BLOCK = SAMPLE_RATE // 10
IMPORTED = "file:"  # how the source of an imported recording begins


def decode_file(path: Path) -> np.ndarray:
    """The whole file as 16 kHz mono int16; raises ImportFailed if corrupt, empty or not audio."""
    import av

    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if path.is_dir():
        raise ImportFailed(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise ImportFailed(f"{path}: is empty, expected an audio recording")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise ImportFailed(f"{path}: has no audio in it")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except ImportFailed:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImportFailed(
            f"{path}: is not an audio file Earmark can read ({reason}); "
            "expected wav, flac, mp3, ogg, m4a or another common format"
        ) from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if len(samples) < SAMPLE_RATE // 10:
        raise ImportFailed(f"{path}: holds no audio (less than 0.1 s)")
    return samples.astype(np.int16, copy=False)


class FileSource(Source):
    """Plays a decoded file into the pipeline as fast as it is read."""

    def __init__(self, path: Path, *, start: float | None = None, name: str | None = None):
        self.path = path
        self.samples = decode_file(path)
        self.duration = len(self.samples) / SAMPLE_RATE
        # A recorder writes its file until the end, so the modification time is the end.
        self.start_time = start if start is not None else os.stat(path).st_mtime - self.duration
        self.name = name or f"{IMPORTED}{path.name}"
        self.state = LISTENING
        self._offset = 0

    def read(self, timeout: float) -> AudioBlock | None:
        if self._offset >= len(self.samples):
            self.state = ENDED
            return None
        block = self.samples[self._offset : self._offset + _BLOCK]
        start = self.start_time + self._offset / SAMPLE_RATE
        self._offset += len(block)
        return AudioBlock(start=start, samples=block, source=self.name)

    def silence(self, spans: list[tuple[float, float]]) -> float:
        """Zero the audio inside these spans (epoch seconds); returns how many seconds."""
        samples, silenced = None, 0
        for start, end in spans:
            first = max(0, round((start - self.start_time) * SAMPLE_RATE))
            last = min(len(self.samples), round((end - self.start_time) * SAMPLE_RATE))
            if first < last:
                samples = self.samples.copy() if samples is None else samples
                samples[first:last] = 0
                silenced += last - first
        if samples is not None:
            self.samples = samples
        return silenced / SAMPLE_RATE

    @property
    def progress(self) -> float:
        return min(1.0, self._offset / max(1, len(self.samples)))
