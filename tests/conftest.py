"""Fixtures with real parts: a private PulseAudio server, espeak-ng speech, the daemon as a process.

Every test gets its own EARMARK_HOME, so nothing touches the user's real data.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from realparts import DaemonProcess, Pulse, XDisplay


@pytest.fixture(autouse=True)
def earmark_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "earmark-home"
    monkeypatch.setenv("EARMARK_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # tests must never download a model
    return home


# -- speech -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed; .ci/run installs it")
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speak(speech_dir):
    """speak("text") -> a 16 kHz mono WAV of espeak-ng saying it (cached per session).

    The speech is padded with silence: espeak starts on the first sample, and PulseAudio does
    not render the first ~80 ms of a new playback stream, which would clip the first word.
    """

    def make(text: str, *, pad_s: float = 0.3) -> Path:
        name = f"{abs(hash((text, pad_s))):x}"
        out = speech_dir / f"{name}.wav"
        if not out.exists():
            raw = speech_dir / f"{name}.raw.wav"
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True
            )
            sox = ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)]
            if pad_s:
                sox += ["pad", str(pad_s), str(pad_s)]
            subprocess.run(sox, check=True)
        return out

    return make


# -- a microphone: a private PulseAudio server with a null sink ------------------------------------


@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    if shutil.which("pulseaudio") is None:
        pytest.fail("pulseaudio is not installed; .ci/run installs it")
    server = Pulse(tmp_path_factory.mktemp("pulse"))
    server.start()
    yield server
    server.stop()


# -- the daemon as a real process ---------------------------------------------------------------


@pytest.fixture
def daemon_factory(tmp_path, pulse):
    """Start daemons that record the PulseAudio test sink; stops every one it started."""
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict | None = None, headless: bool = True) -> DaemonProcess:
        d = DaemonProcess(
            {**pulse.env, **(env or {})}, tmp_path / "daemon.log", *args, headless=headless
        ).start()
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


# -- a desktop: Xvfb with a tray host --------------------------------------------------------------


@pytest.fixture(scope="session")
def x_display():
    for tool in ("Xvfb", "trayer", "xdotool", "import"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; .ci/run installs it")
    display = XDisplay().start()
    yield display
    display.stop()


@pytest.fixture
def desktop_factory(x_display, monkeypatch):
    """Start the tray, hotkey and search window in this process, against a running daemon."""
    from daemon.core.paths import Paths
    from daemon.desktop.app import Desktop

    monkeypatch.setenv("DISPLAY", x_display.env["DISPLAY"])
    started: list[Desktop] = []

    def start() -> Desktop:
        desktop = Desktop(Paths.from_environment().ensure())
        desktop.start()
        started.append(desktop)
        return desktop

    yield start
    for desktop in started:
        desktop.stop()
    if started:
        x_display.xdotool("key", "shift")  # pynput's X listener ends at the next key event
