"""A wearable as an input device: capture follows it as it comes and goes, on real PulseAudio."""

from __future__ import annotations

import threading
import time

import pytest
from realparts import earmark, earmark_json, wait_for_hits

from daemon.capture import portaudio
from daemon.capture.sources.microphone import Microphone

pytestmark = pytest.mark.integration


@pytest.fixture
def walking_profile(earmark_home):
    """A profile that prefers the lavalier when it is there, the laptop microphone otherwise."""
    profiles = earmark_home / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "walk.yaml").write_text(
        "description: The lavalier when worn.\nsources: [earmark_lav, microphone]\n"
    )


def test_capture_follows_a_wearable_as_it_comes_and_goes(
    pulse, daemon_factory, speak, walking_profile
):
    env = pulse.env
    daemon = daemon_factory("--profile", "walk")
    assert daemon.wait_recording()["source"] == "microphone"
    pulse.play(speak("The concert starts at eight."))
    assert wait_for_hits("concert", 1, env=env)[0]["source"] == "microphone"

    unplug = pulse.plug("earmark_lav")  # the lavalier is switched on
    try:
        daemon.wait_for(
            lambda s: s["source"] == "earmark_lav.monitor" and s["source_state"] == "listening",
            timeout=10,
            what="capture to move to the lavalier",
        )
        time.sleep(1)
        pulse.play(speak("Photosynthesis is defined as the making of sugar."), sink="earmark_lav")
    finally:
        unplugged_at = time.time()
        unplug()  # ... and walks out of range before the utterance was even closed
    hit = wait_for_hits("sugar", 1, env=env)[0]
    assert hit["source"] == "earmark_lav.monitor"  # the last words of a device are kept
    status = daemon.wait_for(
        lambda s: s["source"] == "microphone" and s["source_state"] == "listening",
        timeout=10,
        what="capture to fall back to the laptop microphone",
    )
    fallback = status["switches"][-1]
    assert fallback["to"] == "microphone" and "earmark_lav" in fallback["reason"]
    assert fallback["at"] - unplugged_at <= 2.0, fallback
    assert "switched:" in earmark("status", env=env).stdout
    time.sleep(1)
    pulse.play(speak("The second experiment failed again."))
    assert wait_for_hits("experiment", 1, env=env)[0]["source"] == "microphone"

    unplug = pulse.plug("earmark_lav")  # back in range
    try:
        daemon.wait_for(
            lambda s: s["source"] == "earmark_lav.monitor" and s["source_state"] == "listening",
            timeout=10,
            what="capture to move back to the lavalier",
        )
        time.sleep(1)
        pulse.play(speak("What if we remove the attention layers?"), sink="earmark_lav")
        assert wait_for_hits("attention", 1, env=env)[0]["source"] == "earmark_lav.monitor"
    finally:
        unplug()

    switches = [(s["from"], s["to"]) for s in daemon.status()["switches"]]
    assert switches[:3] == [
        ("microphone", "earmark_lav"),
        ("earmark_lav.monitor", "microphone"),
        ("microphone", "earmark_lav"),
    ]
    ledger = earmark_json("ledger", "--since", "10m", env=env)
    heard_on = {source for row in ledger for source in row["listening"]}
    assert {"microphone", "earmark_lav.monitor"} <= heard_on
    notes = [f"{s['to']}: {s['why']}" for row in ledger for s in row["switches"]]
    assert any(n.startswith("microphone: switched from earmark_lav") for n in notes), notes
    assert any(n.startswith("earmark_lav.monitor: switched from microphone") for n in notes)
    texts = [s["text"].lower() for s in earmark_json("transcripts", env=env)]
    for word in ("concert", "sugar", "experiment", "attention"):
        assert sum(word in t for t in texts) == 1, texts  # each heard once, none lost
    assert daemon.stop() == 0


def test_an_input_delivering_only_zeros_counts_as_lost(
    pulse, daemon_factory, speak, walking_profile
):
    env = pulse.env
    daemon = daemon_factory("--profile", "walk")
    daemon.wait_recording()
    unplug = pulse.plug("earmark_lav", hum=False)  # a headset whose link broke: zeros
    try:
        pulse.play(speak("Wake."), sink="earmark_lav")  # a fresh null sink needs a first sound
        moved = daemon.wait_for(
            lambda s: s["source"] == "earmark_lav.monitor",
            timeout=10,
            what="capture to move to the headset",
        )
        status = daemon.wait_for(
            lambda s: s["source"] == "microphone" and s["source_state"] == "listening",
            timeout=20,
            what="the zeros to be noticed",
        )
        fallback = status["switches"][-1]
        assert "only zeros" in fallback["reason"]
        assert fallback["at"] - moved["switches"][-1]["at"] <= 12.0  # within 10 s, and a check
        assert {"input": "earmark_lav", "active": False, "passed_over": True} in status["inputs"]
        time.sleep(5)  # it is still there, but capture stays on the microphone
        assert daemon.status()["source"] == "microphone"
        pulse.play(speak("The concert starts at eight."))
        assert wait_for_hits("concert", 1, env=env)[0]["source"] == "microphone"
    finally:
        unplug()
    ledger = earmark_json("ledger", "--since", "10m", env=env)
    notes = [s["why"] for row in ledger for s in row["switches"]]
    assert any("only zeros" in note for note in notes), notes
    assert daemon.stop() == 0


def test_device_checks_and_rescans_on_other_threads_never_disturb_capture(pulse, monkeypatch):
    """PortAudio is not thread-safe: the input supervisor queries devices while a microphone
    rescans them; neither may fail, and no rescan may close the stream capture is reading."""
    for name, value in pulse.vars.items():
        monkeypatch.setenv(name, value)
    assert portaudio.rescan()  # PortAudio now sees the test server
    mic = Microphone()
    mic.start()
    stop, failures, refused = threading.Event(), [], []

    def rescanning() -> None:
        while not stop.is_set():
            refused.append(not portaudio.rescan())

    def querying() -> None:
        while not stop.is_set():
            try:
                if "pulse" not in [d["name"] for d in portaudio.query()]:
                    failures.append("the pulse device was missing")
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(exc))

    threads = [threading.Thread(target=f) for f in (rescanning, querying)]
    try:
        deadline = time.monotonic() + 10
        while mic.read(0.5) is None and time.monotonic() < deadline:
            pass  # until the stream delivers
        heard = 0
        for thread in threads:
            thread.start()
        until = time.monotonic() + 3
        while time.monotonic() < until:
            block = mic.read(0.5)
            heard += 0 if block is None else len(block.samples)
        assert mic.state == "listening", mic.reason
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        mic.stop()
    assert failures == []
    assert refused and all(refused)  # never while the microphone's stream was open
    assert heard > 2.5 * 16000  # the stream kept delivering throughout
    assert portaudio.rescan()  # and once it closed, rescans run again
