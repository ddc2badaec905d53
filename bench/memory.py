"""Resident memory of the pipeline after an hour of speech.

Runs the daemon's own stages in this process (capture with the VAD segmenter, spool,
transcriber, store, index) on an hour of real speech, generated clip by clip so the audio
itself is never held in memory, as fast as the model goes.

    python bench/memory.py [--minutes 60] [--eval DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from daemon.capture.segmenter import Segmenter
from daemon.capture.sources.base import ENDED, LISTENING, AudioBlock, Source
from daemon.capture.stage import CaptureStage
from daemon.core.profiles import load_profile
from daemon.storage.spool import Spool
from daemon.storage.store import Store
from daemon.transcribe.stage import TranscribeStage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speech import DEFAULT_EVAL, RATE, load_clips  # noqa: E402


class LoopedClips(Source):
    """The eval clips over and over with 1.5 s pauses, as 100 ms blocks, for `seconds`."""

    def __init__(self, clips, seconds: float):
        self.clips, self.total = clips, int(seconds * RATE)
        self.name, self.state = "bench", LISTENING
        self._blocks = self._generate()

    def _generate(self):
        sent, t0, gap = 0, time.time() - self.total / RATE, np.zeros(int(1.5 * RATE), np.int16)
        while True:
            for clip in self.clips:
                for part in (clip.samples, gap):
                    for i in range(0, len(part), RATE // 10):
                        block = part[i : i + RATE // 10]
                        yield AudioBlock(t0 + sent / RATE, block, self.name)
                        sent += len(block)
                        if sent >= self.total:
                            return

    def read(self, timeout: float):
        block = next(self._blocks, None)
        if block is None:
            self.state = ENDED
        return block


def rss_mb(field: str = "VmRSS") -> float:
    line = next(
        x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field)
    )
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args()
    clips = load_clips(args.eval)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        profile = load_profile("default", home / "profiles")
        store, spool = Store(home / "e.db"), Spool(home / "spool")
        transcribe = TranscribeStage(
            spool=spool,
            store=store,
            index_root=home / "index",
            audio_root=home / "audio",
            profile_for=lambda _: profile,
            preload=profile.transcription,
        )
        capture = CaptureStage(
            source=LoopedClips(clips, args.minutes * 60),
            segmenter=Segmenter(profile.segmentation),
            spool=spool,
            profile=lambda: profile.name,
            on_spooled=transcribe.wake,
        )
        started = time.monotonic()
        transcribe.start()
        capture.start()
        capture.join()
        while len(spool):
            time.sleep(1)
        transcribe.stop()
        elapsed = time.monotonic() - started
        segments = len(store.segments.find())
    print(
        f"{args.minutes:.0f} min of speech: {transcribe.transcribed} utterances, "
        f"{segments} segments in {elapsed / 60:.1f} min"
    )
    print(
        f"resident memory after: {rss_mb():.0f} MB, peak {rss_mb('VmHWM'):.0f} MB"
        "   (target <= 400 MB)"
    )


if __name__ == "__main__":
    main()
