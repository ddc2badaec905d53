"""Live path vs plain faster-whisper on the same long recording: CPU, word error rate, latency.

The live path is the real one: the daemon records a private PulseAudio null sink while the
recording (real clips one after another) plays into it in real time; its CPU time is read from
/proc after the model loaded. The offline figure is one WhisperModel.transcribe() of the same
audio with the same options, run before and after each live run (the mean of the two, as a
shared machine drifts).

Latency is measured two ways:
  - per utterance: the end of its speech to searchable, as `earmark status` reports it;
  - per clip (a sentence or a few): the end of the clip's speech (its last window the speech
    detector calls speech, judged on the clip alone) to the moment the utterance holding it
    became searchable, from the daemon's `timings`. Playback is taken to start when
    paplay is started, so these figures include paplay's start-up (they err long, not short);
    a playback that took longer than its audio (PulseAudio held up on a busy machine) puts every
    clip after the hold-up late by as much, which "playback took longer" shows.
First words: how many clips (those with an exact reference) lose their first word, live and in
the offline pass of the same audio.

Each figure is given per run and as the median and spread (lowest to highest) of --runs runs.

    python bench/live_vs_offline.py [--minutes 4] [--gap 0.3] [--runs 3] [--cores 1] [--busy N]
                                    [--progressive-after S] [--server] [--keep-text DIR]
                                    [--show S] [--eval DIR]

With --server the daemon transcribes on faster-whisper-server (PyPI) on this machine, serving the
same model: "CPU live" is then the daemon's own, beside the server's.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the daemon sets it: same numpy both sides
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from eval_speech import (  # noqa: E402
    DEFAULT_EVAL,
    RATE,
    Clip,
    load_clips,
    normalize,
    word_error_rate,
    write_wav,
)
from realparts import (  # noqa: E402
    DaemonProcess,
    Pulse,
    WhisperServer,
    default_profile_cutting_after,
    default_profile_on_server,
    earmark_json,
)

from daemon.capture.segmenter import WINDOW, SpeechDetector  # noqa: E402
from daemon.core import control  # noqa: E402
from daemon.core.paths import Paths  # noqa: E402
from daemon.core.profiles import Transcription  # noqa: E402
from daemon.storage.spool import Spool  # noqa: E402
from daemon.transcribe.transcriber import Transcriber  # noqa: E402

_NUMBER_WORDS = "zero one two three four five six seven eight nine".split()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (a server's worker processes)."""
    total = process_cpu(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                total += tree_cpu(int(child))
            except FileNotFoundError:
                pass
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def last_speech(samples: np.ndarray, detector: SpeechDetector) -> float:
    """Seconds from a clip's start to the end of its last window the speech detector (the one
    the daemon uses, on the clip alone) calls speech: the end of what was said in it."""
    count = len(samples) // WINDOW
    detector.reset()
    probs = detector(samples[: count * WINDOW].reshape(count, WINDOW).astype(np.float32) / 32768)
    voiced = np.flatnonzero(probs >= 0.5)
    return (voiced[-1] + 1) * WINDOW / RATE if len(voiced) else len(samples) / RATE


def first_sound(samples: np.ndarray) -> float:
    """Seconds from a clip's start to its first 10 ms louder than four times its noise floor
    (the quietest tenth of it): where its speech begins, found without the speech detector."""
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(np.float64)
    loudness = np.sqrt((frames**2).mean(axis=1))
    loud = np.flatnonzero(loudness > max(4 * np.percentile(loudness, 10), 30))
    return loud[0] * 160 / RATE if len(loud) else 0.0


class Placed(NamedTuple):
    """A clip in the recording: where its sound begins and ends, in seconds from the start."""

    clip: Clip
    start: float
    end: float


def recording(clips, *, minutes: float, gap_s: float) -> tuple[np.ndarray, list[Placed]]:
    """Clips one after another with gaps, repeated to reach `minutes`: the audio, and each clip
    with where its sound begins and ends."""
    gap = np.zeros(int(gap_s * RATE), dtype=np.int16)
    detector = SpeechDetector()
    sound = [(first_sound(c.samples), last_speech(c.samples, detector)) for c in clips]
    parts, placed, at = [gap], [], len(gap)
    while at < minutes * 60 * RATE:
        for clip, (begins, ends) in zip(clips, sound, strict=True):
            placed.append(Placed(clip, at / RATE + begins, at / RATE + ends))
            parts += [clip.samples, gap]
            at += len(clip.samples) + len(gap)
            if at >= minutes * 60 * RATE:
                break
    return np.concatenate(parts), placed


def first_words_lost(placed, hypothesis: str, exact: set[str]) -> list[str]:
    """The clips with an exact reference that lose their first word in `hypothesis`, aligned word
    by word against all the references (digits written as numbers count as the digits said one
    by one: "10001" as "one zero zero zero one"), each as its name, its first words, and the
    words heard in their place."""
    reference, firsts = [], []
    for clip, *_ in placed:
        if clip.name in exact:
            firsts.append((clip, len(reference)))
        reference += normalize(clip.reference)
    said = [
        said
        for w in normalize(hypothesis)
        for said in ([_NUMBER_WORDS[int(d)] for d in w] if re.fullmatch(r"\d+", w) else [w])
    ]
    n, m = len(reference), len(said)
    cost = np.zeros((n + 1, m + 1), dtype=np.int32)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (reference[i - 1] != said[j - 1]),
            )
    kept, heard_at, i, j = set(), {}, n, m
    while i > 0 and j > 0:
        heard_at[i - 1] = j - 1
        if cost[i, j] == cost[i - 1, j - 1] + (reference[i - 1] != said[j - 1]):
            if reference[i - 1] == said[j - 1]:
                kept.add(i - 1)
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    lost = []
    for clip, k in firsts:
        if k not in kept:
            at = heard_at.get(k, 0)
            lost.append(
                f"{clip.name}: {' '.join(reference[k : k + 4])!r} heard as "
                f"{' '.join(said[max(0, at - 2) : at + 4])!r}"
            )
    return lost


def offline(audio, settings: Transcription) -> tuple[float, str]:
    transcriber = Transcriber(settings)
    transcriber.load()
    model = transcriber._model
    before = own_cpu()
    segments, _ = model.transcribe(audio.astype("float32") / 32768.0, **transcriber.options())
    text = " ".join(s.text.strip() for s in segments)
    return own_cpu() - before, text


def clip_latencies(
    placed, played_at: float, timings: list[dict], *, show: float | None = None
) -> tuple[list[float], int]:
    """Per clip, its last sound to searchable; and how many clips no utterance held the end of.
    With `show`, prints the clips that took longer than that many seconds."""
    latencies, unheld = [], 0
    for clip, _, end in placed:
        end_at = played_at + end
        holding = [u for u in timings if u["start"] < end_at and u["speech_end"] >= end_at - 0.3]
        if holding:
            latencies.append(min(u["searchable"] for u in holding) - end_at)
            if show is not None and latencies[-1] > show:
                print(f"  {clip.name}: {latencies[-1]:.2f} s", flush=True)
        else:
            unheld += 1
            if show is not None:
                print(f"  {clip.name}: its end was in no utterance", flush=True)
    return sorted(latencies), unheld


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))] if values else float("nan")


class Backlog(threading.Thread):
    """Counts the daemon's spool twice a second while the recording plays (from this process:
    asking the daemon would add its answers to the CPU being measured)."""

    def __init__(self, spool: Spool):
        super().__init__(daemon=True)
        self.spool, self.most, self._done = spool, 0, threading.Event()

    def start(self) -> Backlog:
        super().start()
        return self

    def run(self) -> None:
        while not self._done.wait(0.5):
            self.most = max(self.most, len(self.spool))

    def stop(self) -> None:
        self._done.set()
        self.join()


def live(wav: Path, work: Path, pulse: Pulse, args) -> dict:
    home = work / "home"
    server = None
    if args.progressive_after is not None:
        default_profile_cutting_after(home, args.progressive_after)
    if args.server:  # the model on a server on this machine, one utterance at a time
        server = WhisperServer(work / "server.log").start()
        default_profile_on_server(home, url=server.url)
    env = {**pulse.env, "EARMARK_HOME": str(home)}
    cores = ",".join(str(c) for c in range(args.cores or os.cpu_count()))
    under = ("taskset", "-c", cores) if args.cores else ()
    daemon = DaemonProcess(env, work / "daemon.log", under=under).start()
    paths = Paths.under(home)
    busy = []
    try:
        daemon.wait_recording()
        if args.busy:  # other programs keeping the daemon's cores busy: a slower machine
            spin = ["taskset", "-c", cores, sys.executable, "-c", "while True: pass"]
            busy = [subprocess.Popen(spin) for _ in range(args.busy * len(cores.split(",")))]
        cpu_before = process_cpu(daemon.proc.pid)
        server_before = tree_cpu(server.proc.pid) if server else 0.0
        played_at = time.time()
        backlog = Backlog(Spool(paths.spool_dir)).start()
        pulse.play(wav)
        stretched = time.time() - played_at - len(wav.read_bytes()) / 2 / RATE
        backlog.stop()
        heard = {"count": -1, "since": 0.0, "backlog": 0}

        def drained(s: dict) -> bool:
            """No new utterance for 3 s (the last one is closed after a pause), all transcribed."""
            heard["backlog"] = max(heard["backlog"], s["backlog"])
            if s["utterances_heard"] != heard["count"]:
                heard.update(count=s["utterances_heard"], since=time.monotonic())
            return (
                time.monotonic() - heard["since"] > 3
                and s["backlog"] == 0
                and s["utterances_transcribed"] == s["utterances_heard"]
            )

        status = daemon.wait_for(drained, timeout=1800, what="the backlog to drain")
        drain_s = time.time() - played_at - len(wav.read_bytes()) / 2 / RATE
        cpu = process_cpu(daemon.proc.pid) - cpu_before
        server_cpu = tree_cpu(server.proc.pid) - server_before if server else 0.0
        wall = time.time() - played_at
        timings = control.request(paths.control_socket, "timings")["utterances"]
        rows = earmark_json("transcripts", env=env)
        daemon.stop()
    finally:
        for spinner in busy:
            spinner.kill()
        if daemon.proc.poll() is None:
            daemon.proc.kill()
        if server is not None:
            server.stop()
    return {
        "cpu": cpu,
        "daemon_share": 100 * cpu / wall,
        "server_cpu": server_cpu,
        "status": status,
        "played_at": played_at,
        "timings": timings,
        "drain_s": drain_s,
        "stretched": stretched,
        "backlog_max": max(backlog.most, heard["backlog"]),
        "text": " ".join(r["text"] for r in rows),
    }


FIGURES = [
    ("cpu_live", "CPU live, s", "{:.1f}"),
    ("cpu_offline", "CPU offline (before, after: mean), s", "{:.1f}"),
    ("cpu_ratio", "CPU live / offline", "{:.3f}"),
    ("daemon_share", "daemon CPU, % of one core", "{:.2f}"),
    ("server_cpu", "transcription server CPU, s", "{:.1f}"),
    ("wer_live", "WER live", "{:.3f}"),
    ("wer_offline", "WER offline", "{:.3f}"),
    ("wer_ratio", "WER live / offline", "{:.3f}"),
    ("utterance_p50", "utterance end -> searchable p50 s", "{:.2f}"),
    ("utterance_p95", "utterance end -> searchable p95 s", "{:.2f}"),
    ("clip_p50", "clip end -> searchable p50 s", "{:.2f}"),
    ("clip_p95", "clip end -> searchable p95 s", "{:.2f}"),
    ("clip_max", "clip end -> searchable max s", "{:.2f}"),
    ("unheld", "clips whose end no utterance held", "{:.0f}"),
    ("first_lost_live", "first words lost live", "{:.0f}"),
    ("first_lost_offline", "first words lost offline", "{:.0f}"),
    ("utterances", "utterances", "{:.0f}"),
    ("backlog_max", "largest backlog, utterances", "{:.0f}"),
    ("drain_s", "backlog drained, s after playback", "{:.1f}"),
    ("stretched", "playback took longer than the audio, s", "{:.2f}"),
]


_PULSE_SETTLES_S = 40


def one_run(audio, placed, exact, settings, args, number: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav = write_wav(work / "recording.wav", audio)
        # A PulseAudio server in its first half-minute costs a client recording from it about
        # 2 % of a core more (a bare sounddevice stream: 0.8 s of CPU per 30 s, then 0.13 s):
        # started first, it has settled by the time the daemon starts.
        pulse = Pulse(work / "pulse")
        pulse.runtime.mkdir()
        pulse.start()
        settled_at = time.monotonic() + _PULSE_SETTLES_S
        before_cpu, offline_text = offline(audio, settings)
        time.sleep(max(0.0, settled_at - time.monotonic()))
        try:
            result = live(wav, work, pulse, args)
        finally:
            pulse.stop()
        after_cpu, _ = offline(audio, settings)  # the shared machine drifts: both sides of it
    reference = " ".join(p.clip.reference for p in placed)
    status = result["status"]
    clips, unheld = clip_latencies(placed, result["played_at"], result["timings"], show=args.show)
    lost_live = first_words_lost(placed, result["text"], exact)
    lost_offline = first_words_lost(placed, offline_text, exact)
    if args.show is not None:
        for side, lost in (("live", lost_live), ("offline", lost_offline)):
            for what in lost:
                print(f"  first word lost {side}: {what}", flush=True)
    wer_live = word_error_rate(reference, result["text"])
    wer_offline = word_error_rate(reference, offline_text)
    if args.keep_text:
        args.keep_text.mkdir(parents=True, exist_ok=True)
        for side, text in (
            ("reference", reference),
            ("live", result["text"]),
            ("offline", offline_text),
        ):
            (args.keep_text / f"run{number}.{side}.txt").write_text(text + "\n")
    return {
        "cpu_live": result["cpu"],
        "cpu_offline": (before_cpu + after_cpu) / 2,
        "cpu_ratio": result["cpu"] / ((before_cpu + after_cpu) / 2),
        "daemon_share": result["daemon_share"],
        "server_cpu": result["server_cpu"],
        "wer_live": wer_live,
        "wer_offline": wer_offline,
        "wer_ratio": wer_live / max(wer_offline, 1e-9),
        "utterance_p50": status["latency_p50_s"],
        "utterance_p95": status["latency_p95_s"],
        "clip_p50": percentile(clips, 0.5),
        "clip_p95": percentile(clips, 0.95),
        "clip_max": clips[-1] if clips else float("nan"),
        "unheld": unheld,
        "first_lost_live": len(lost_live),
        "first_lost_offline": len(lost_offline),
        "utterances": status["utterances_transcribed"],
        "backlog_max": result["backlog_max"],
        "drain_s": result["drain_s"],
        "stretched": result["stretched"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--show",
        type=float,
        default=None,
        help="name the clips slower than this many seconds, and those that lost their first word",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        help="this many other programs spinning on each of the daemon's cores (a slower machine)",
    )
    parser.add_argument("--cores", type=int, default=0, help="run the daemon on this many cores")
    parser.add_argument(
        "--keep-text",
        type=Path,
        default=None,
        help="write each run's reference, live and offline text here",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="the daemon transcribes on a real OpenAI-compatible server on this machine",
    )
    parser.add_argument(
        "--progressive-after",
        type=float,
        default=None,
        help="the profile's progressive_after_s for the live run (0: off)",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=1.5,
        help="seconds of silence between clips: 1.5 is talk with pauses, 0.3 a continuous talk",
    )
    args = parser.parse_args()

    clips = load_clips(args.eval)
    with open(args.eval / "MANIFEST.tsv", newline="") as fh:
        exact = {
            row["file"] for row in csv.DictReader(fh, delimiter="\t") if row["ref_quality"] == "A"
        }
    audio, placed = recording(clips, minutes=args.minutes, gap_s=args.gap)
    settings = Transcription()
    spinning = f", {args.busy} other programs spinning on each" if args.busy else ""
    print(
        f"recording: {len(audio) / RATE / 60:.1f} min of speech, {len(placed)} clips "
        f"({sum(p.clip.name in exact for p in placed)} with an exact reference), "
        f"{args.gap} s between clips; daemon on {args.cores or os.cpu_count()} cores"
        f"{spinning}; {args.runs} runs",
        flush=True,
    )
    runs = []
    for k in range(args.runs):
        runs.append(one_run(audio, placed, exact, settings, args, k + 1))
        print(
            f"run {k + 1}: "
            + ", ".join(f"{key} " + fmt.format(runs[-1][key]) for key, _, fmt in FIGURES),
            flush=True,
        )
    print(f"\n{'figure':40} {'median':>8}   spread (lowest - highest)")
    for key, label, fmt in FIGURES:
        values = sorted(r[key] for r in runs)
        print(
            f"{label:40} {fmt.format(statistics.median(values)):>8}   "
            f"{fmt.format(values[0])} - {fmt.format(values[-1])}"
        )


if __name__ == "__main__":
    main()
