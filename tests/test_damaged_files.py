"""One bad file never halts the daemon: it is set aside with its reason, and hearing goes on."""

from __future__ import annotations

import json
import os
import subprocess
import wave

import numpy as np
import pytest
from realparts import earmark_json, needs_root, wait_for_hits

from daemon.storage.spool import Spool

pytestmark = pytest.mark.integration

_FOREIGN_WAV_HEADER = (  # claims 44.1 kHz stereo 16-bit, then noise
    b"RIFF\x24\x10\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00"
    b"\x10\xb1\x02\x00\x04\x00\x10\x00data\x00\x10\x00\x00"
)


def samples_of(wav_path) -> np.ndarray:
    with wave.open(str(wav_path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def test_damaged_files_are_set_aside_and_the_daemon_goes_on(
    pulse, daemon_factory, speak, earmark_home
):
    spool = Spool(earmark_home / "data" / "spool")
    # a journal cut off while its header was written, and one of random bytes
    (spool.directory / ".journal-cut.json").write_bytes(b'{"uid": "0000000000100-aaaa", "pro')
    (spool.directory / ".journal-cut.pcm").write_bytes(os.urandom(32000))
    (spool.directory / ".journal-noise.json").write_bytes(os.urandom(500))
    # a journal whose audio was cut off mid-sample: what it holds is speech, and is kept
    heard = samples_of(speak("The lighthouse keeper counted seventeen ships."))
    (spool.directory / ".journal-half.json").write_text(
        json.dumps(
            {"uid": "1700000000000-abcdef0123", "profile": "default", "source": "microphone"}
            | {"start": 1_700_000_000.0}
        )
    )
    (spool.directory / ".journal-half.pcm").write_bytes(heard.tobytes() + b"\x07")
    # a spool sidecar of random bytes, and an item whose audio lies about its format
    (spool.directory / "1700000000500-noise.json").write_bytes(os.urandom(400))
    (spool.directory / "1700000000500-noise.wav").write_bytes(os.urandom(4000))
    lying = spool.put(profile="default", source="microphone", start=1_700_000_100.0, samples=heard)
    lying.wav_path.write_bytes(_FOREIGN_WAV_HEADER + os.urandom(4096))
    # an item of a profile deleted since it was heard
    gone = earmark_home / "config" / "profiles" / "gone.yaml"
    gone.parent.mkdir(parents=True, exist_ok=True)
    gone.write_text("description: a profile deleted later\n")
    spool.put(
        profile="gone",
        source="microphone",
        start=1_700_000_200.0,
        samples=samples_of(speak("Please bring the revised forecast to the meeting.")),
    )
    gone.unlink()

    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The quarterly budget review moves to next Tuesday."))
    wait_for_hits("budget", 1, env=pulse.env)  # new speech is heard and transcribed
    wait_for_hits("lighthouse", 1, env=pulse.env)  # the journal cut mid-sample, recovered
    forecast = wait_for_hits("forecast", 1, env=pulse.env)  # filed under the default profile
    assert forecast[0]["profile"] == "default"
    status = daemon.wait_for(lambda s: s["set_aside"] == 1, what="the lying item set aside")
    assert status["error"] is None and status["state"] == "recording"
    assert any("filed under default" in note and "gone" in note for note in status["notes"])
    assert any("set aside" in note for note in status["notes"])

    damaged = earmark_home / "data" / "damaged"
    reasons = sorted(p.read_text().splitlines()[0] for p in damaged.glob("*.reason"))
    assert len(reasons) == 4, reasons
    assert sum("speech journal cannot be read" in r for r in reasons) == 2
    assert any("spool item cannot be read" in r for r in reasons)
    assert any("expected 1 channel, 16-bit, 16000 Hz" in r and "3 attempts" in r for r in reasons)
    kept = {p.name.split("-", 2)[-1] for p in damaged.iterdir() if p.suffix != ".reason"}
    assert {"journal-cut.json", "journal-cut.pcm", "journal-noise.json"} <= kept
    assert f"{lying.uid}.wav" in kept and "1700000000500-noise.json" in kept
    # the spool drains (the talk played may still have a part on its way to the model)
    daemon.wait_for(lambda s: s["backlog"] == 0, what="the spool to drain")
    assert len(spool) == 0
    assert daemon.stop() == 0


@pytest.fixture
def read_only_spool(earmark_home):
    """Makes the spool folder read-only for everyone, root included (a read-only bind mount)."""
    needs_root("a read-only bind mount")
    spool_dir = earmark_home / "data" / "spool"
    mounted = []

    def make_read_only() -> None:
        subprocess.run(["mount", "--bind", str(spool_dir), str(spool_dir)], check=True)
        mounted.append(spool_dir)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(spool_dir)], check=True)

    def make_writable() -> None:
        subprocess.run(["umount", str(mounted.pop())], check=True)

    yield make_read_only, make_writable
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_read_only_spool_holds_speech_until_it_can_be_written(
    pulse, daemon_factory, speak, read_only_spool
):
    make_read_only, make_writable = read_only_spool
    daemon = daemon_factory()
    daemon.wait_recording()
    make_read_only()
    pulse.play(speak("The quarterly budget review moves to next Tuesday."))
    status = daemon.wait_for(
        lambda s: s["state"].startswith("spool unwritable") and s["held_in_memory_s"] > 1,
        what="speech held in memory",
    )
    assert status["error"] is None and "Read-only file system" in status["state"]
    make_writable()
    daemon.wait_for(
        lambda s: s["state"] == "recording" and s["held_in_memory_s"] == 0,
        timeout=30,
        what="the held speech to be written",
    )
    assert len(wait_for_hits("budget", 1, env=pulse.env)) == 1
    ledger = earmark_json("ledger", "--since", "10m", env=pulse.env)
    assert any(any("spool unwritable" in gap for gap in row["gaps"]) for row in ledger)
    assert daemon.stop() == 0
