"""Wearables through the live daemon: how fast capture follows an input device, and what a
streaming network wearable costs.

python bench/wearable.py [--cycles 10] [--stream-minutes 2]

1. A profile prefers a lavalier (a second PulseAudio null sink) over the laptop microphone. The
   lavalier is plugged and unplugged `--cycles` times; printed: seconds from unplug to capture
   back on the laptop microphone, and from plug to capture on the lavalier (from the daemon's
   own switch times).
2. The reference client streams its microphone (room noise, a sentence every 20 s) to the
   daemon for `--stream-minutes`; printed: daemon CPU share of one core against the same
   minutes with no wearable, measured side by side, and end of a sentence to searchable.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from live_vs_offline import process_cpu  # noqa: E402
from realparts import EARMARK, DaemonProcess, Pulse, earmark, room_noise  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def follow_device(pulse: Pulse, work: Path, cycles: int) -> None:
    home = work / "follow"
    (home / "config" / "profiles").mkdir(parents=True)
    (home / "config" / "profiles" / "walk.yaml").write_text(
        "description: The lavalier when worn.\nsources: [bench_lav, microphone]\n"
    )
    env = {**pulse.env, "EARMARK_HOME": str(home)}
    daemon = DaemonProcess(env, work / "follow.log", "--profile", "walk").start()
    to_lav, to_mic = [], []
    try:
        daemon.wait_recording()
        for _ in range(cycles):
            plugged = time.time()
            unplug = pulse.plug("bench_lav")
            s = daemon.wait_for(lambda s: s["source"] == "bench_lav.monitor", timeout=20)
            to_lav.append(s["switches"][-1]["at"] - plugged)
            time.sleep(2)
            unplugged = time.time()
            unplug()
            s = daemon.wait_for(lambda s: s["source"] == "microphone", timeout=20)
            to_mic.append(s["switches"][-1]["at"] - unplugged)
            time.sleep(1)
        daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    print(f"input device plugged and unplugged {cycles} times")
    print(
        f"  unplug -> laptop microphone: p50 {percentile(to_mic, 0.5):.2f} s, "
        f"max {max(to_mic):.2f} s   (target <= 2 s)"
    )
    print(f"  plug -> lavalier: p50 {percentile(to_lav, 0.5):.2f} s, max {max(to_lav):.2f} s")


def streaming_cost(pulse: Pulse, work: Path, minutes: float, speech: Path) -> None:
    seconds = minutes * 60
    noise = room_noise(work / "room.wav", seconds)
    port = 18765
    figures = {}
    for with_wearable in (False, True):
        home = work / f"stream-{with_wearable}"
        (home / "config").mkdir(parents=True)
        (home / "config" / "wearable.yaml").write_text(f"listen: 127.0.0.1:{port}\n")
        env = {**pulse.env, "EARMARK_HOME": str(home)}
        daemon = DaemonProcess(env, work / f"stream-{with_wearable}.log").start()
        client = None
        unplug = pulse.plug("bench_pendant")
        try:
            daemon.wait_recording()
            if with_wearable:
                code = json.loads(earmark("pair", "--name", "pendant", "--json", env=env).stdout)
                client = subprocess.Popen(
                    [*EARMARK, "wearable", "--server", f"http://127.0.0.1:{port}"]
                    + ["--code", code["code"]],
                    env={
                        **env,
                        "EARMARK_HOME": str(work / "client"),
                        "PULSE_SOURCE": "bench_pendant.monitor",
                    },
                    stderr=subprocess.DEVNULL,
                )
                daemon.wait_for(lambda s: s["wearables"]["streams"], timeout=30)
            cpu_before, started = process_cpu(daemon.proc.pid), time.monotonic()
            background = subprocess.Popen(
                ["paplay", "--device", "bench_pendant", str(noise)], env=pulse.env
            )
            latencies = []
            while background.poll() is None:
                time.sleep(20)
                if with_wearable and background.poll() is None:
                    pulse.play(speech, sink="bench_pendant")
                    said = time.time()
                    while time.time() - said < 30:
                        hits = json.loads(
                            earmark("search", "pay", "--json", "--limit", "50", env=env).stdout
                        )
                        if len(hits) > len(latencies):
                            latencies.append(time.time() - said)
                            break
                        time.sleep(0.1)
            wall = time.monotonic() - started
            cpu = process_cpu(daemon.proc.pid) - cpu_before
            figures[with_wearable] = (cpu, wall, latencies)
            daemon.stop()
        finally:
            if client is not None:
                client.terminate()
                client.wait()
            unplug()
            if daemon.proc.poll() is None:
                daemon.proc.kill()
    (cpu0, wall0, _), (cpu1, wall1, latencies) = figures[False], figures[True]
    print(
        f"{wall1 / 60:.1f} min streamed by the reference client (room noise, a sentence every 20 s)"
    )
    print(f"  daemon CPU without a wearable: {100 * cpu0 / wall0:.2f}% of one core")
    print(f"  daemon CPU with one streaming: {100 * cpu1 / wall1:.2f}% of one core")
    if latencies:
        print(
            "  end of the sentence -> searchable through the wearable: "
            f"p50 {percentile(latencies, 0.5):.2f} s, max {max(latencies):.2f} s "
            f"({len(latencies)} sentences)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--stream-minutes", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speech = work / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-w", str(work / "raw.wav"), "Who will pay for the new servers?"],
            check=True,
        )
        subprocess.run(
            ["sox", str(work / "raw.wav"), "-r", "16000", "-c", "1", "-b", "16", str(speech)]
            + ["pad", "0.3", "0.3"],
            check=True,
        )
        pulse = Pulse(work / "pulse")
        pulse.runtime.mkdir()
        pulse.start()
        try:
            follow_device(pulse, work, args.cycles)
            streaming_cost(pulse, work, args.stream_minutes, speech)
        finally:
            pulse.stop()


if __name__ == "__main__":
    main()
