"""Real parts for tests and benchmarks: a private PulseAudio server, the CLI, the daemon process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

EARMARK = [sys.executable, "-m", "daemon"]


def earmark(
    *args: str, check: bool = False, timeout: float = 300, env=None, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run the real `earmark` command line in a subprocess."""
    result = subprocess.run(
        [*EARMARK, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or os.environ.copy(),
        input=input,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"earmark {' '.join(args)} failed:\n{result.stderr}")
    return result


def earmark_json(*args: str, **kwargs):
    return json.loads(earmark(*args, "--json", check=True, **kwargs).stdout)


def wait_for_hits(query: str, count: int, *, env=None, timeout: float = 60, args=()) -> list:
    deadline = time.monotonic() + timeout
    hits = []
    while time.monotonic() < deadline:
        hits = earmark_json("search", query, "--limit", "50", *args, env=env)
        if len(hits) >= count:
            return hits
        time.sleep(0.3)
    raise AssertionError(
        f"search {query!r} found {len(hits)} hits, expected {count}: "
        f"{earmark('transcripts', env=env).stdout}"
    )


def room_noise(path: Path, seconds: float, *, then_silence_s: float = 0.0) -> Path:
    """A 16 kHz WAV of quiet pink room noise (sox), optionally followed by digital silence."""
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            str(seconds),
            "pinknoise",
            "vol",
            "0.03",
            "pad",
            "0",
            str(then_silence_s),
        ],
        check=True,
    )
    return path


class Pulse:
    """A PulseAudio server of the test session's own; its null sink's monitor is the microphone."""

    def __init__(self, runtime: Path):
        self.runtime = runtime
        self.vars = {
            "PULSE_RUNTIME_PATH": str(runtime),
            "XDG_RUNTIME_DIR": str(runtime),
            "PULSE_SINK": "earmark_test",
            "PULSE_SOURCE": "earmark_test.monitor",
        }

    @property
    def env(self) -> dict:
        """The current environment (with this test's EARMARK_HOME) pointed at this server."""
        return {**os.environ, **self.vars}

    def start(self) -> None:
        subprocess.run(
            [
                "pulseaudio",
                "--start",
                "--exit-idle-time=-1",
                "-n",
                "--daemonize=yes",
                "--load=module-native-protocol-unix",
                "--load=module-null-sink sink_name=earmark_test",
            ],
            env=self.env,
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 10
        while self.pactl("info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PulseAudio did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True)

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=check
        )

    def play(self, wav: Path, *, sink: str = "earmark_test") -> None:
        subprocess.run(["paplay", "--device", sink, str(wav)], env=self.env, check=True)

    def load_sink(self, name: str) -> int:
        return int(self.pactl("load-module", "module-null-sink", f"sink_name={name}").stdout)

    def unload(self, module: int) -> None:
        self.pactl("unload-module", str(module))


class DaemonProcess:
    """`earmark run` (headless unless asked) in a subprocess, with helpers to wait on its status."""

    def __init__(self, env: dict, log: Path, *args: str, headless: bool = True):
        self.env = env
        self.log = log
        self.args = ("--headless", *args) if headless else args
        self.proc: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        self.proc = subprocess.Popen(
            [*EARMARK, "run", *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115
        )
        return self

    def status(self) -> dict | None:
        result = earmark("status", "--json", env=self.env, timeout=30)
        if result.returncode != 0:
            return None
        status = json.loads(result.stdout)
        return None if status["state"] == "not running" else status

    def wait_for(self, predicate, *, timeout: float = 60, what: str = "a condition") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}):\n{self.log.read_text()}"
                )
            status = self.status()
            if status is not None and predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(
            f"timed out waiting for {what}; last status {self.status()}\n"
            f"{self.log.read_text()[-3000:]}"
        )

    def wait_recording(self) -> dict:
        """Wait until the daemon records with its model loaded, then for capture to settle."""
        status = self.wait_for(
            lambda s: (
                s["state"] == "recording"
                and s["source_state"] == "listening"
                and s["model_state"] == "loaded"
            ),
            what="the daemon to record",
        )
        time.sleep(1.0)  # PulseAudio capture starts a moment after the stream opens
        return status

    def stop(self, sig=signal.SIGTERM, timeout: float = 90) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
