"""Microphone: a sounddevice input stream that survives devices coming and going.

The device is chosen by index or by a name substring. PortAudio devices are tried first (that is
where macOS and Windows list every microphone); on Linux PortAudio only sees `pulse`/`default`,
so a name that matches a PulseAudio/PipeWire source instead pins that source with PULSE_SOURCE
and records it through the `pulse` device. The audio callback never blocks: it copies the block
into a bounded queue and drops (and counts) blocks only if the reader has fallen 10 s behind.
When no audio arrives for 2 s (5 s for a stream just opened), or a pinned source disappears, the
device counts as lost; the supervisor then retries with backoff until it is back, and the source
reports WAITING meanwhile. All PortAudio calls go through `daemon.capture.portaudio`, which is
thread-safe. A device that delivers nothing but zeros for 10 s (a Bluetooth headset whose link
broke often does) counts as lost too, not as silence: it reports WAITING with that reason while
its blocks still flow, so it is listening again the moment real sound returns.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from daemon.capture import portaudio
from daemon.capture.sources.base import LISTENING, WAITING, AudioBlock, Source
from daemon.core.errors import DeviceNotFound
from daemon.storage.spool import SAMPLE_RATE

__all__ = ["Microphone", "list_input_devices", "pulse_sources"]

log = logging.getLogger(__name__)

_SILENT_STREAM_S = 2.0
_FIRST_BLOCK_S = 5.0  # a stream just opened may take a moment (PulseAudio adapting its latency)
_ZEROS_LOST_S = 10.0
_BACKOFF_S = (0.5, 1.0, 2.0, 3.0)
_PULSE_CHECK_S = 0.5
_USER_PULSE_SOURCE = os.environ.get("PULSE_SOURCE")  # the user's own default input, if set


def pulse_sources() -> list[tuple[str, str]]:
    """(name, description) of every PulseAudio/PipeWire source, or [] where there is no pactl."""
    if sys.platform != "linux" or shutil.which("pactl") is None:
        return []
    try:
        out = subprocess.run(
            ["pactl", "list", "sources"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    sources, name = [], None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Description:") and name is not None:
            sources.append((name, line.split(":", 1)[1].strip()))
            name = None
    return sources


def list_input_devices() -> list[dict]:
    """Every input device: PortAudio devices, then PulseAudio sources (Linux)."""
    devices = [
        {
            "index": d["index"],
            "name": d["name"],
            "kind": "portaudio",
            "default_samplerate": d["default_samplerate"],
        }
        for d in portaudio.query()
        if d["max_input_channels"] > 0
    ]
    devices += [
        {"index": None, "name": name, "kind": "pulse", "description": description}
        for name, description in pulse_sources()
    ]
    return devices


def input_device_present(text: str) -> bool:
    """Whether an input device (PortAudio, or a PulseAudio source) has `text` in its name."""
    wanted = text.lower()
    names = [f"{name} {description}" for name, description in pulse_sources()]
    try:
        import sounddevice as sd
    except OSError:  # no PortAudio
        return any(wanted in name.lower() for name in names)
    try:
        names += [d["name"] for d in portaudio.query() if d["max_input_channels"] > 0]
    except sd.PortAudioError as exc:
        log.debug("PortAudio device query failed: %s", exc)
    return any(wanted in name.lower() for name in names)


_PORTAUDIO_SAYS = (  # what PortAudio says, and what it means to someone at the computer
    ("Error querying device -1", "no microphone is connected or enabled"),
    ("Device unavailable", "the microphone is busy or unavailable (another program may hold it)"),
    ("Invalid device", "the chosen input device is gone"),
    ("Invalid sample rate", "the microphone refused every sample rate tried"),
    ("Invalid number of channels", "the device has no input channel (is it a speaker?)"),
    ("Unanticipated host error", "the sound system failed to open the microphone"),
)


def plainly(exc: Exception) -> str:
    """A device error as a sentence for a person, PortAudio's own words after it."""
    said = str(exc)
    for words, meaning in _PORTAUDIO_SAYS:
        if words in said:
            return f"{meaning} ({said})"
    return said


class Microphone(Source):
    """A live input device; `device` is an index, a name substring, or None for the default."""

    def __init__(self, device: str | int | None = None, *, block_ms: int = 250):
        self.device = device
        self.name = "microphone" if device is None else str(device)
        self.block_frames_ms = block_ms
        self.state = WAITING
        self.reason = "starting"
        self.overruns = 0
        self._queue: queue.Queue[AudioBlock] = queue.Queue(maxsize=max(10, 10_000 // block_ms))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_audio = 0.0
        self._last_sound = 0.0
        self.only_zeros = False
        self._rate = SAMPLE_RATE
        self._resampler = None
        self._pinned_pulse: str | None = None

    # -- public ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._supervise, name="earmark-microphone", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def read(self, timeout: float) -> AudioBlock | None:
        try:
            block = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if self._resampler is not None and self._rate != SAMPLE_RATE:
            block = AudioBlock(
                start=block.start, samples=self._resample(block.samples), source=block.source
            )
        return block

    # -- device choice --------------------------------------------------------------------

    def _resolve(self):
        """(sounddevice device, samplerate, label); pins a PulseAudio source where needed."""
        import sounddevice as sd

        self._pinned_pulse = None
        if _USER_PULSE_SOURCE is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = _USER_PULSE_SOURCE
        if self.device is None:
            info = sd.query_devices(kind="input")
            return None, self._pick_rate(None, info), "microphone"
        if isinstance(self.device, int) or str(self.device).isdigit():
            index = int(self.device)
            try:
                info = sd.query_devices(index)
            except (ValueError, sd.PortAudioError) as exc:
                raise DeviceNotFound(f"there is no audio device number {index}") from exc
            if info["max_input_channels"] < 1:
                raise DeviceNotFound(f"audio device {index} ({info['name']}) has no input")
            return index, self._pick_rate(index, info), info["name"]
        wanted = str(self.device).lower()
        for info in sd.query_devices():
            if info["max_input_channels"] > 0 and wanted in info["name"].lower():
                return info["index"], self._pick_rate(info["index"], info), info["name"]
        for name, description in pulse_sources():
            if wanted in name.lower() or wanted in description.lower():
                os.environ["PULSE_SOURCE"] = name
                self._pinned_pulse = name
                names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
                device = "pulse" if "pulse" in names else None
                info = (
                    sd.query_devices(device, kind="input")
                    if device
                    else sd.query_devices(kind="input")
                )
                return device, self._pick_rate(device, info), name
        raise DeviceNotFound(f"no input device matches {self.device!r}")

    def _pick_rate(self, device, info) -> int:
        import sounddevice as sd

        try:
            sd.check_input_settings(
                device=device, samplerate=SAMPLE_RATE, channels=1, dtype="int16"
            )
            return SAMPLE_RATE
        except sd.PortAudioError:
            return int(info["default_samplerate"])

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self._rate
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

    # -- the supervisor -------------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:  # the PortAudio library itself is missing
            self._waiting(f"waiting for microphone: PortAudio is not installed ({exc})")
            return
        attempt = 0
        while not self._stop.is_set():
            try:
                with portaudio.lock:  # PULSE_SOURCE is read when the stream opens
                    device, rate, label = self._resolve()
                    self._rate = rate
                    self._resampler = None
                    if rate != SAMPLE_RATE:
                        import av

                        self._resampler = av.AudioResampler(
                            format="s16", layout="mono", rate=SAMPLE_RATE
                        )
                    stream = portaudio.open_input(
                        device=device,
                        samplerate=rate,
                        channels=1,
                        dtype="int16",
                        blocksize=int(rate * self.block_frames_ms / 1000),
                        callback=self._callback_for(label, rate),
                    )
            except (DeviceNotFound, sd.PortAudioError, OSError, ValueError) as exc:
                self._waiting(f"waiting for microphone: {plainly(exc)}")
                self._backoff(attempt)
                attempt += 1
                if not self._stop.is_set():
                    portaudio.rescan()
                continue
            attempt = 0
            self._last_audio = self._last_sound = time.monotonic()
            self.only_zeros = False
            self.name = label
            self.state, self.reason = LISTENING, None
            log.info("listening on %s at %d Hz", label, rate)
            lost = self._watch()
            if lost:  # said before closing, which a vanished device can slow down
                self._waiting(f"waiting for microphone: {lost}")
            portaudio.close(stream)
            if lost:
                portaudio.rescan()

    def _callback_for(self, label: str, rate: int):
        def callback(indata, frames, time_info, status):
            self._last_audio = time.monotonic()
            if indata.any():
                self._last_sound = self._last_audio
            block = AudioBlock(
                start=time.time() - frames / rate, samples=indata[:, 0].copy(), source=label
            )
            try:
                self._queue.put_nowait(block)
            except queue.Full:
                self.overruns += 1

        return callback

    def _watch(self) -> str | None:
        """Wait while the stream is healthy; returns why it was lost, or None when stopping."""
        opened = self._last_audio
        next_pulse_check = time.monotonic() + _PULSE_CHECK_S
        while not self._stop.wait(0.2):
            now = time.monotonic()
            limit = _SILENT_STREAM_S if self._last_audio > opened else _FIRST_BLOCK_S
            if now - self._last_audio > limit:
                return f"{self.name} delivered no audio for {limit:.0f} s"
            zeros = now - self._last_sound > _ZEROS_LOST_S
            if zeros != self.only_zeros:
                self.only_zeros = zeros
                if zeros:
                    self._waiting(f"{self.name} delivered only zeros for {_ZEROS_LOST_S:.0f} s")
                else:
                    log.info("%s delivers sound again", self.name)
                    self.state, self.reason = LISTENING, None
            if self._pinned_pulse and now >= next_pulse_check:
                next_pulse_check = now + _PULSE_CHECK_S
                if self._pinned_pulse not in {n for n, _ in pulse_sources()}:
                    return f"{self._pinned_pulse} disappeared"
        return None

    def _waiting(self, reason: str) -> None:
        if self.state != WAITING or self.reason != reason:
            log.warning("%s", reason)
        self.state, self.reason = WAITING, reason

    def _backoff(self, attempt: int) -> None:
        self._stop.wait(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
