"""A backlog drained through a transcription server: throughput with 1 and with N utterances in
flight, and the daemon's own CPU while the server transcribes.

The server is a real one from PyPI (faster-whisper-server) on this machine, serving the bundled
tiny.en with one thread per request and one worker process per request it takes at once, so it
runs requests in parallel as a server with spare capacity would. The backlog is the real clips
(each one utterance, as a long pause would end it) spooled before the daemon starts; the daemon
drains it through the server. Each setting runs on a fresh home against the same server.

    python bench/server_drain.py [--copies 2] [--in-flight 1 4] [--workers 4] [--eval DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from eval_speech import DEFAULT_EVAL, RATE, load_clips  # noqa: E402
from live_vs_offline import process_cpu, tree_cpu  # noqa: E402
from realparts import DaemonProcess, WhisperServer, default_profile_on_server  # noqa: E402

from daemon.storage.spool import Spool  # noqa: E402


def drain(server: WhisperServer, clips, copies: int, in_flight: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    home = work / f"home-{in_flight}"
    default_profile_on_server(home, url=server.url, in_flight=in_flight)
    spool = Spool(home / "data" / "spool")
    start = time.time() - 3600
    count = audio_s = 0
    for _ in range(copies):
        for clip in clips:
            spool.put(profile="default", source="microphone", start=start, samples=clip.samples)
            start += len(clip.samples) / RATE + 1.0
            count += 1
            audio_s += len(clip.samples) / RATE
    env = {**os.environ, "EARMARK_HOME": str(home), "PULSE_SERVER": "unix:/nonexistent"}
    server_before = tree_cpu(server.proc.pid)
    began = time.monotonic()
    daemon = DaemonProcess(env, work / f"daemon-{in_flight}.log").start()
    try:
        status = daemon.wait_for(
            lambda s: s["backlog"] == 0 and s["utterances_transcribed"] == count,
            timeout=3600,
            what="the backlog to drain",
        )
        wall = time.monotonic() - began
        daemon_cpu = process_cpu(daemon.proc.pid)
        daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    return {
        "utterances": count,
        "audio_s": audio_s,
        "wall": wall,
        "daemon_cpu": daemon_cpu,
        "server_cpu": tree_cpu(server.proc.pid) - server_before,
        "problem": status["problem"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="times each clip is spooled")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--workers", type=int, default=4, help="the server's worker processes")
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    args = parser.parse_args()
    clips = load_clips(args.eval)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = WhisperServer(work / "server.log", workers=args.workers).start()
        try:
            # every worker loads its model on its first request: warm them all first
            drain(server, clips[:1], args.workers, args.workers, work / "warm")
            results = {}
            for in_flight in args.in_flight:
                r = results[in_flight] = drain(server, clips, args.copies, in_flight, work)
                print(
                    f"in flight {in_flight}: {r['utterances']} utterances "
                    f"({r['audio_s']:.0f} s of speech) drained in {r['wall']:.1f} s: "
                    f"{r['utterances'] / r['wall']:.2f} utterances/s, "
                    f"{r['audio_s'] / r['wall']:.1f} s of speech per second; daemon CPU "
                    f"{r['daemon_cpu']:.1f} s from its start "
                    f"({1000 * r['daemon_cpu'] / r['utterances']:.0f} ms per utterance), "
                    f"server CPU {r['server_cpu']:.1f} s",
                    flush=True,
                )
        finally:
            server.stop()
    first = results[args.in_flight[0]]
    for in_flight, r in results.items():
        rate = first["wall"] / r["wall"]
        print(f"in flight {in_flight}: {rate:.2f}x the drain rate with {args.in_flight[0]}")


if __name__ == "__main__":
    main()
