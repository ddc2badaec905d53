"""What cutting talk at its short pauses costs: the same recording through the daemon's segmenter
with `progressive_after_s` off and at several lengths, each cut transcribed in this process by
the live transcriber (one thread, as the daemon runs it).

For each setting: utterances, the model's CPU, the word error rate, first words lost, per clip
how long after its speech ended the utterance holding it was cut (the wait before transcription
can start; `live_vs_offline.py` measures the whole way to searchable), and the clips whose first
sound no utterance holds (the pre-roll must cover the speech detector's delay in noticing speech).

    python bench/progressive_cuts.py [--minutes 4] [--gap 0.3] [--after 0 1.5 3 6] [--pre-roll MS]
                                     [--shift SAMPLES] [--carry-state] [--show]

--shift puts that many samples of silence before the recording: the detector's 32 ms windows then
fall elsewhere in the speech, as they do live, where the recording starts at any moment.
--carry-state keeps the detector's recurrent state across the whole stream, never starting it
afresh after a quiet second (as the segmenter did before).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_speech import DEFAULT_EVAL, RATE, load_clips, word_error_rate  # noqa: E402
from live_vs_offline import first_words_lost, own_cpu, percentile, recording  # noqa: E402

from daemon.capture import segmenter as segmenter_module  # noqa: E402
from daemon.capture.segmenter import Segmenter  # noqa: E402
from daemon.core.profiles import Segmentation, Transcription  # noqa: E402
from daemon.transcribe.transcriber import Transcriber  # noqa: E402

BLOCK = 4000  # the microphone's 250 ms blocks


def cuts(
    audio: np.ndarray, after: float, pre_roll_ms: int = Segmentation.pre_roll_ms
) -> list[tuple[object, float]]:
    """Each utterance with the audio time (seconds) at which the segmenter let it go."""
    settings = Segmentation(progressive_after_s=after, pre_roll_ms=pre_roll_ms)
    segmenter, out = Segmenter(settings), []
    for i in range(0, len(audio), BLOCK):
        done = segmenter.feed(i / RATE, audio[i : i + BLOCK], "mic")
        out += [(u, (i + BLOCK) / RATE) for u in done]
    return out + [(u, len(audio) / RATE) for u in segmenter.flush()]


def onsets_cut(placed, heard) -> int:
    """How many clips' first sound (found by loudness, not by the speech detector) no utterance
    holds: the start of what was said there was cut off."""
    return sum(not any(u.start <= p.start < u.start + u.duration for u, _ in heard) for p in placed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--after", type=float, nargs="+", default=[0, 1.5, 3, 6])
    parser.add_argument("--pre-roll", type=int, default=Segmentation.pre_roll_ms, help="ms")
    parser.add_argument("--shift", type=int, default=0, help="samples of silence put first")
    parser.add_argument("--carry-state", action="store_true", help="detector never afresh")
    parser.add_argument("--show", action="store_true", help="name the clips that lost a first word")
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args()
    if args.carry_state:
        segmenter_module._RESET_AFTER_WINDOWS = sys.maxsize
    with open(args.eval / "MANIFEST.tsv", newline="") as fh:
        exact = {r["file"] for r in csv.DictReader(fh, delimiter="\t") if r["ref_quality"] == "A"}
    audio, placed = recording(load_clips(args.eval), minutes=args.minutes, gap_s=args.gap)
    if args.shift:
        audio = np.concatenate([np.zeros(args.shift, dtype=np.int16), audio])
        placed = [
            p._replace(start=p.start + args.shift / RATE, end=p.end + args.shift / RATE)
            for p in placed
        ]
    reference = " ".join(p.clip.reference for p in placed)
    transcriber = Transcriber(Transcription(), live=True)
    transcriber.load()
    print(
        f"recording: {len(audio) / RATE / 60:.1f} min, {len(placed)} clips, {args.gap} s apart; "
        f"pre-roll {args.pre_roll} ms"
        + ("; the detector's state carried throughout" if args.carry_state else "")
    )
    for after in args.after:
        heard = cuts(audio, after, args.pre_roll)
        before, texts = own_cpu(), []
        for utterance, _ in heard:
            segments, _ = transcriber.transcribe(utterance.samples.astype(np.float32) / 32768)
            texts.append(" ".join(s.text for s in segments if s.flag is None))
        cpu = own_cpu() - before
        waits = sorted(
            min(let_go for u, let_go in heard if u.start < end and u.speech_end >= end - 0.3) - end
            for *_, end in placed
            if any(u.start < end and u.speech_end >= end - 0.3 for u, _ in heard)
        )
        text = " ".join(texts)
        lost = first_words_lost(placed, text, exact)
        print(
            f"progressive_after_s {after:>4}: {len(heard)} utterances, model CPU {cpu:.1f} s, "
            f"WER {word_error_rate(reference, text):.3f}, first words lost "
            f"{len(lost)}; clip end -> cut "
            f"p50 {percentile(waits, 0.5):.2f} s, p95 {percentile(waits, 0.95):.2f} s, "
            f"max {waits[-1]:.2f} s; onsets cut {onsets_cut(placed, heard)} of {len(placed)}",
            flush=True,
        )
        for what in lost if args.show else ():
            print(f"  first word lost: {what}", flush=True)


if __name__ == "__main__":
    main()
