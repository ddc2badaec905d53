"""Silence and room noise through the live daemon: CPU share of one core, and model calls.

python bench/silence.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from live_vs_offline import process_cpu  # noqa: E402
from realparts import DaemonProcess, Pulse, room_noise  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Half pink room noise, half digital silence: an idle office, then a muted microphone.
        room = room_noise(work / "room.wav", seconds / 2, then_silence_s=seconds / 2)
        pulse = Pulse(work / "pulse")
        pulse.runtime.mkdir()
        pulse.start()
        env = {**pulse.env, "EARMARK_HOME": str(work / "home")}
        daemon = DaemonProcess(env, work / "daemon.log").start()
        try:
            daemon.wait_recording()
            cpu_before, started = process_cpu(daemon.proc.pid), time.monotonic()
            pulse.play(room)
            wall = time.monotonic() - started
            cpu = process_cpu(daemon.proc.pid) - cpu_before
            status = daemon.status()
            daemon.stop()
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
            pulse.stop()
    print(f"{wall / 60:.1f} min of silence and room noise heard live")
    print(f"daemon CPU: {cpu:.1f} s = {100 * cpu / wall:.2f}% of one core   (target <= 3%)")
    print(
        f"model calls: {status['whisper_calls']}, utterances: {status['utterances_heard']}"
        "   (target 0)"
    )


if __name__ == "__main__":
    main()
