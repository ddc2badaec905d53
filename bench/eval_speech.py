"""Real speech for the benchmarks: the eval clips, a long recording made of them, and WER.

The clips (../shared/eval/speech by default, or --eval DIR) are read, never shipped.
"""

from __future__ import annotations

import csv
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "speech"


@dataclass(frozen=True)
class Clip:
    name: str
    samples: np.ndarray  # int16 mono 16 kHz
    reference: str


def load_clips(directory: Path) -> list[Clip]:
    """Every clip in MANIFEST.tsv with its reference text, as 16 kHz mono int16."""
    manifest = directory / "MANIFEST.tsv"
    if not manifest.exists():
        raise SystemExit(f"{manifest}: not found; pass --eval DIR with the speech clips")
    clips = []
    with open(manifest, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            with wave.open(str(directory / row["file"])) as w:
                if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                    continue
                samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            clips.append(Clip(row["file"], samples, row["reference_text"]))
    return clips


def long_recording(clips: list[Clip], *, minutes: float, gap_s: float = 1.5):
    """Clips one after another, with gaps of silence, repeated to reach `minutes`."""
    parts, references = [], []
    gap = np.zeros(int(gap_s * RATE), dtype=np.int16)
    total = 0
    while total < minutes * 60 * RATE:
        for clip in clips:
            parts += [clip.samples, gap]
            references.append(clip.reference)
            total += len(clip.samples) + len(gap)
            if total >= minutes * 60 * RATE:
                break
    return np.concatenate([gap, *parts]), " ".join(references)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path


def normalize(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over normalized words, divided by the reference's length."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / max(1, len(ref))
