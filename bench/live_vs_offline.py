"""Live path vs plain faster-whisper on the same long recording: CPU, word error rate, latency.

The live path is the real one: the daemon records a private PulseAudio null sink while the
recording plays into it in real time; its CPU time is read from /proc after the model loaded.
The offline figure is one WhisperModel.transcribe() of the same audio with the same options, run
before and after the live run (the mean of the two, as a shared machine drifts).

    python bench/live_vs_offline.py [--minutes 10] [--eval DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the daemon sets it: same numpy both sides
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from eval_speech import (  # noqa: E402
    DEFAULT_EVAL,
    RATE,
    load_clips,
    long_recording,
    word_error_rate,
    write_wav,
)
from realparts import DaemonProcess, Pulse, earmark_json  # noqa: E402

from daemon.profiles import Transcription  # noqa: E402
from daemon.transcriber import Transcriber  # noqa: E402


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def offline(audio, settings: Transcription) -> tuple[float, str]:
    transcriber = Transcriber(settings)
    transcriber.load()
    model = transcriber._model
    before = own_cpu()
    segments, _ = model.transcribe(audio.astype("float32") / 32768.0, **transcriber.options())
    text = " ".join(s.text.strip() for s in segments)
    return own_cpu() - before, text


def live(wav: Path, work: Path, pulse: Pulse) -> dict:
    env = {**pulse.env, "EARMARK_HOME": str(work / "home")}
    daemon = DaemonProcess(env, work / "daemon.log").start()
    try:
        daemon.wait_recording()
        cpu_before = process_cpu(daemon.proc.pid)
        started = time.monotonic()
        pulse.play(wav)
        played = time.monotonic() - started
        heard = {"count": -1, "since": 0.0}

        def drained(s: dict) -> bool:
            """No new utterance for 3 s (the last one is closed after a pause), all transcribed."""
            if s["utterances_heard"] != heard["count"]:
                heard.update(count=s["utterances_heard"], since=time.monotonic())
            return (
                time.monotonic() - heard["since"] > 3
                and s["backlog"] == 0
                and s["utterances_transcribed"] == s["utterances_heard"]
            )

        status = daemon.wait_for(drained, timeout=600, what="the backlog to drain")
        cpu = process_cpu(daemon.proc.pid) - cpu_before
        rss_kb = int(
            next(
                line
                for line in Path(f"/proc/{daemon.proc.pid}/status").read_text().splitlines()
                if line.startswith("VmRSS")
            ).split()[1]
        )
        rows = earmark_json("transcripts", env=env)
        daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    return {
        "cpu": cpu,
        "played_s": played,
        "status": status,
        "rss_mb": rss_kb / 1024,
        "text": " ".join(r["text"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument(
        "--gap",
        type=float,
        default=1.5,
        help="seconds of silence between clips: 1.5 is talk with pauses, 0.3 a continuous talk",
    )
    args = parser.parse_args()

    clips = load_clips(args.eval)
    audio, reference = long_recording(clips, minutes=args.minutes, gap_s=args.gap)
    settings = Transcription()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav = write_wav(work / "recording.wav", audio)
        print(
            f"recording: {len(audio) / RATE / 60:.1f} min of speech from {len(clips)} clips, "
            f"{args.gap} s between clips"
        )
        before_cpu, offline_text = offline(audio, settings)
        pulse = Pulse(work / "pulse")
        pulse.runtime.mkdir()
        pulse.start()
        try:
            result = live(wav, work, pulse)
        finally:
            pulse.stop()
        after_cpu, _ = offline(audio, settings)  # the shared machine drifts: both sides of it
    offline_cpu = (before_cpu + after_cpu) / 2
    status = result["status"]
    offline_wer = word_error_rate(reference, offline_text)
    live_wer = word_error_rate(reference, result["text"])
    print(
        f"offline transcribe(): CPU {offline_cpu:.1f} s (before the live run {before_cpu:.1f} s, "
        f"after it {after_cpu:.1f} s), WER {offline_wer:.3f}"
    )
    print(
        f"live daemon path:     CPU {result['cpu']:.1f} s, WER {live_wer:.3f} "
        f"({status['utterances_transcribed']} utterances, {status['whisper_calls']} model calls)"
    )
    print(f"CPU ratio live/offline: {result['cpu'] / offline_cpu:.3f}   (target <= 1.15)")
    print(f"WER ratio live/offline: {live_wer / max(offline_wer, 1e-9):.3f}   (target <= 1.1)")
    print(
        f"latency end of speech -> searchable: p50 {status['latency_p50_s']:.2f} s, "
        f"p95 {status['latency_p95_s']:.2f} s   (target p95 <= 3 s)"
    )
    print(f"daemon resident memory after the run: {result['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
