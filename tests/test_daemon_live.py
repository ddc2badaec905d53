"""The daemon as a real process recording a real PulseAudio null sink's monitor."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import time
import wave

import pytest
from realparts import (
    earmark,
    earmark_json,
    needs_root,
    one_utterance_per_sentence,
    room_noise,
    talk_on,
    wait_for_hits,
)

from daemon.core import control

pytestmark = pytest.mark.integration


def test_records_transcribes_and_searches_live(pulse, daemon_factory, speak, earmark_home):
    first = speak("The quarterly budget review moves to next Tuesday.")
    second = speak("Please bring the revised forecast to the meeting.")
    one_utterance_per_sentence(earmark_home)
    daemon = daemon_factory()
    status = daemon.wait_recording()
    assert status["profile"] == "default" and status["source"] == "microphone"
    assert status["model"] == "tiny.en (bundled)" and status["backlog"] == 0
    sock = earmark_home / "run" / "control.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    before = time.time()
    pulse.play(first)
    time.sleep(1)
    pulse.play(second)
    hits = wait_for_hits("forecast meeting", 1, env=pulse.env)
    assert hits[0]["source"] == "microphone" and hits[0]["profile"] == "default"
    assert "**forecast**" in hits[0]["snippet"]
    budget = wait_for_hits("budget", 1, env=pulse.env)[0]
    start = time.mktime(time.strptime(budget["start"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert before - 2 <= start <= before + 5  # filed at the wall-clock time it was heard

    bad = earmark("search", '"unclosed', env=pulse.env)  # answered by the daemon
    assert bad.returncode == 1
    assert bad.stderr.strip() == "earmark: the search query '\"unclosed' has an unclosed quote"

    status = daemon.status()
    assert status["utterances_transcribed"] == 2 and status["whisper_calls"] == 2
    assert status["backlog"] == 0

    second_run = earmark("run", "--headless", env=pulse.env, timeout=60)
    assert second_run.returncode == 1
    assert second_run.stderr.strip() == f"earmark: Earmark is already running (pid {status['pid']})"

    assert daemon.stop(signal.SIGTERM) == 0
    assert not sock.exists()
    spans = earmark_json("ledger", "--since", "10m", env=pulse.env)
    assert any(row["listening"].get("microphone", 0) > 0 for row in spans)
    assert sum(row["speech"].get("microphone", 0) for row in spans) > 4


def test_silence_never_reaches_the_model(pulse, daemon_factory, tmp_path):
    noise = room_noise(tmp_path / "noise.wav", 4)
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(noise)
    time.sleep(2)
    status = daemon.status()
    assert status["whisper_calls"] == 0 and status["utterances_heard"] == 0
    assert earmark_json("transcripts", env=pulse.env) == []


def test_kill_9_with_a_backlog_loses_and_duplicates_nothing(
    pulse, daemon_factory, speak, earmark_home
):
    sentences = [
        ("Please bring the revised forecast.", "forecast"),
        ("The quarterly budget review moves to next Tuesday.", "budget"),
        ("The violin concert starts at eight.", "concert"),
    ]
    one_utterance_per_sentence(earmark_home)
    daemon = daemon_factory()
    daemon.wait_recording()
    spool = earmark_home / "data" / "spool"
    # Another writer holds the store's write lock, so the daemon hears and spools everything
    # but cannot commit a transcript before it is killed.
    writer = sqlite3.connect(earmark_home / "data" / "earmark.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    for text, _ in sentences:
        pulse.play(speak(text))
        time.sleep(0.9)
    daemon.wait_for(lambda s: s["utterances_heard"] == 3, what="three utterances spooled")
    assert daemon.status()["backlog"] == 3
    daemon.kill9()
    writer.execute("ROLLBACK")
    writer.close()
    assert len([p for p in spool.glob("*.json") if not p.name.startswith(".")]) == 3
    assert earmark_json("transcripts") == []

    restarted = daemon_factory()
    restarted.wait_for(
        lambda s: s["backlog"] == 0 and s["utterances_transcribed"] == 3,
        what="the backlog to drain",
    )
    for _, word in sentences:
        hits = wait_for_hits(word, 1, env=pulse.env)
        assert len(hits) == 1, f"{word!r} found {len(hits)} times"
    rows = earmark_json("transcripts", env=pulse.env)
    assert len({r["start"] for r in rows}) == len(rows)
    ledger = earmark_json("ledger", "--since", "10m", env=pulse.env)
    assert any("crash" in row["gaps"] for row in ledger)
    restarted.stop()


def test_kill_9_in_the_middle_of_a_sentence_keeps_what_was_heard(pulse, daemon_factory, speak):
    long_sentence = speak(
        "The lighthouse keeper counted seventeen ships sailing past the rocky island "
        "before the storm arrived and the harbor closed for the night."
    )
    daemon = daemon_factory()
    daemon.wait_recording()
    player = subprocess.Popen(["paplay", str(long_sentence)], env=pulse.env)
    time.sleep(4.5)  # well into the sentence, long before its end
    daemon.kill9()
    player.wait()

    restarted = daemon_factory()
    restarted.wait_recording()
    hits = wait_for_hits("counted ships", 1, env=pulse.env)
    assert len(hits) == 1
    restarted.stop()


def test_waits_for_a_missing_microphone_and_follows_it(pulse, daemon_factory, speak):
    daemon = daemon_factory("--device", "wearable_mic")
    status = daemon.wait_for(
        lambda s: s["state"] == "waiting for microphone", what="waiting for microphone"
    )
    assert "wearable_mic" in status["source_reason"]
    module = pulse.load_sink("wearable_mic")
    try:
        status = daemon.wait_for(
            lambda s: s["state"] == "recording", timeout=20, what="the device to be picked up"
        )
        assert status["source"] == "wearable_mic.monitor"
        time.sleep(1)
        pulse.play(speak("Please bring the revised forecast to the meeting."), sink="wearable_mic")
        hits = wait_for_hits("forecast", 1, env=pulse.env)
        assert hits[0]["source"] == "wearable_mic.monitor"
    finally:
        pulse.unload(module)
    daemon.wait_for(
        lambda s: s["state"] == "waiting for microphone",
        timeout=20,
        what="the lost device to be noticed",
    )
    module = pulse.load_sink("wearable_mic")
    try:
        daemon.wait_for(lambda s: s["state"] == "recording", timeout=20, what="the device again")
    finally:
        pulse.unload(module)
    ledger = earmark_json("ledger", "--since", "10m", env=pulse.env)
    reasons = {reason for row in ledger for reason in row["gaps"]}
    assert any("wearable_mic" in r for r in reasons)
    assert any(row["listening"].get("wearable_mic.monitor") for row in ledger)
    assert daemon.stop() == 0


def test_with_no_sound_system_at_all_the_daemon_says_so_plainly(pulse, daemon_factory):
    daemon = daemon_factory(env={"PULSE_SERVER": "unix:/nonexistent"})
    plainly = "waiting for microphone: no microphone is connected or enabled"
    daemon.wait_for(  # the reason follows the state a moment later
        lambda s: (
            s["state"] == "waiting for microphone"
            and (s["source_reason"] or "").startswith(plainly)
        ),
        what="the reason in plain words",
    )
    shown = earmark("status", env={**pulse.env, "PULSE_SERVER": "unix:/nonexistent"}).stdout
    assert "no microphone is connected or enabled" in shown
    assert daemon.stop() == 0


@pytest.fixture
def small_disk(tmp_path):
    needs_root("mounting a small tmpfs to fill")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)], check=True
    )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_pauses_then_resumes_without_losing_speech(
    pulse, daemon_factory, speak, small_disk, monkeypatch
):
    home = small_disk / "home"
    monkeypatch.setenv("EARMARK_HOME", str(home))
    daemon = daemon_factory()
    daemon.wait_recording()
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for chunk in (1 << 20, 1 << 12, 1):  # fill the disk to the last byte
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
    pulse.play(speak("The quarterly budget review moves to next Tuesday."))
    status = daemon.wait_for(lambda s: s["state"] == "disk full", what="disk full")
    assert status["held_in_memory_s"] > 1
    filler.unlink()
    daemon.wait_for(
        lambda s: s["state"] == "recording" and s["held_in_memory_s"] == 0,
        timeout=30,
        what="recording to resume",
    )
    hits = wait_for_hits("budget", 1, env=pulse.env)
    assert len(hits) == 1
    ledger = earmark_json("ledger", "--since", "10m", env=pulse.env)
    assert any("disk full" in row["gaps"] for row in ledger)
    assert daemon.stop() == 0


def test_a_full_disk_during_a_commit_loses_and_half_keeps_nothing(small_disk):
    """The store on a disk that fills up: the write that does not fit is rolled back whole,
    what was stored before stays intact, and once there is room again writes go on."""
    import sqlite3

    from daemon.storage.store import Store
    from daemon.storage.utterances import NewSegment

    def utterance(uid: str, words: int) -> dict:
        text = " ".join(["budget"] * words)
        segment = NewSegment(1000.0, 1010.0, text, -0.3, 0.1, 1.2, ())
        return dict(
            uid=uid, profile="default", source="microphone", start=1000.0, end=1010.0,
            model="tiny.en", language="en", segments=[segment],
        )  # fmt: skip

    store = Store(small_disk / "earmark.db")
    assert store.utterances.add(**utterance("before", 10)) is not None
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # the disk fills up
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass
    with pytest.raises(sqlite3.Error, match="full"):
        store.utterances.add(**utterance("too-big", 20_000))  # fits in memory, not on disk
    filler.unlink()  # room again: the same connection writes on, not stuck in a transaction
    assert store.utterances.add(**utterance("after", 10)) is not None
    store.close()
    db = sqlite3.connect(small_disk / "earmark.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    uids = [r[0] for r in db.execute("SELECT uid FROM utterances ORDER BY id")]
    assert uids == ["before", "after"]  # nothing of the one that did not fit
    db.close()


def test_talk_without_long_pauses_is_searchable_while_it_goes_on(
    pulse, daemon_factory, speak, earmark_home, tmp_path
):
    said = [
        ("The quarterly budget review moves to next Tuesday.", "budget"),
        ("The birch canoe slid on the smooth planks.", "smooth"),
        ("Glue the sheet to the dark blue background.", "background"),
        ("It is easy to tell the depth of a well.", "easy"),
        ("Please bring the revised forecast to the meeting.", "forecast"),
    ]
    # 0.5 s from the sound of one sentence to the next: no pause that ends an utterance
    audio, _, ends = talk_on(speak, [text for text, _ in said], lead_s=0.5, tail_s=0.0)
    talk = tmp_path / "talk.wav"
    with wave.open(str(talk), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16_000)
        w.writeframes(audio.tobytes())
    daemon = daemon_factory()
    daemon.wait_recording()
    started = time.time()
    player = subprocess.Popen(["paplay", "--device", "earmark_test", str(talk)], env=pulse.env)
    try:
        hits = wait_for_hits(said[0][1], 1, env=pulse.env, timeout=30)
        first_found = time.time() - started
    finally:
        player.wait()
    # found while the talk went on: it is ~14 s long and has no pause that ends an utterance
    assert first_found < ends[1] + 2.0, f"the first sentence was found after {first_found} s"
    assert hits[0]["text"].lower().startswith("the quarterly budget")
    for _, word in said[1:]:
        assert len(wait_for_hits(word, 1, env=pulse.env)) == 1
    timings = control.request(earmark_home / "run" / "control.sock", "timings")["utterances"]
    assert len(timings) >= len(said) - 1
    for heard in timings:
        assert heard["start"] < heard["speech_end"] < heard["searchable"]
    assert daemon.status()["latency_p95_s"] < 10
