"""The tray, the search hotkey and the search window, on a real X server with a real tray host."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from realparts import XDisplay, earmark, earmark_json, pixels_differing, wait_for_hits

pytestmark = pytest.mark.integration

WORK_PROFILE = "description: Work conversations.\nsources: [microphone]\n"
TRAY_AREA = "240x32+784+0"  # trayer sits at the top right of the 1024x768 screen


def menu_item(menu, *path: str):
    """An item of the tray's pystray menu, by its text along a path of submenus."""
    item = None
    for text in path:
        item = next(i for i in menu.items if i.text == text)
        menu = item.submenu
    return item


def wait_until(predicate, *, timeout: float = 20, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def answer_dialog(x_display: XDisplay, title: str, key: str) -> None:
    """Focus a Tk dialog and press one of its underlined shortcuts (alt+y, alt+n)."""
    x_display.wait_window(title)
    window = x_display.windows(title)[0]
    x_display.xdotool("windowfocus", "--sync", window)
    x_display.xdotool("key", key)
    x_display.wait_window(title, gone=True)


def test_icon_docks_a_click_toggles_and_the_right_button_opens_the_menu(
    pulse, daemon_factory, x_display, tmp_path
):
    env = {**pulse.env, "DISPLAY": x_display.env["DISPLAY"]}
    daemon = daemon_factory(env=env, headless=False)
    daemon.wait_recording()
    x_display.wait_window("^Earmark: default, recording$", what="the docked icon")
    _, x, y = x_display.tray_icon()
    assert x > 900 and y < 32  # docked in trayer at the top right, not floating
    before = x_display.screenshot(tmp_path / "before.png", crop=TRAY_AREA)

    x_display.click(x, y)
    daemon.wait_for(lambda s: s["state"] == "recording off", what="the click to toggle")
    x_display.wait_window("^Earmark: default, recording off$", what="the tooltip to follow")
    after = x_display.screenshot(tmp_path / "after.png", crop=TRAY_AREA)
    assert pixels_differing(before, after) > 200  # the icon shows the change

    x_display.click(x, y, button=3)  # the menu, then Pause ▸ 15 minutes from the keyboard
    time.sleep(0.5)
    x_display.xdotool("key", "Down", "Down", "Down", "Right")
    time.sleep(0.3)
    x_display.xdotool("key", "Return")
    status = daemon.wait_for(lambda s: s["state"].startswith("paused until"), what="the pause")
    assert 14 * 60 < status["pause_ends"] - time.time() <= 15 * 60
    assert "recording off" in {g for row in earmark_json("ledger", env=env) for g in row["gaps"]}
    assert daemon.stop() == 0


def test_every_menu_item_does_what_it_says(
    pulse, daemon_factory, desktop_factory, x_display, speak, earmark_home, tmp_path, monkeypatch
):
    env = pulse.env
    (earmark_home / "config" / "profiles").mkdir(parents=True)
    (earmark_home / "config" / "profiles" / "work.yaml").write_text(WORK_PROFILE)
    opened = tmp_path / "opened.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xdg-open").write_text(f'#!/bin/sh\necho "$@" > {opened}\n')
    (bin_dir / "xdg-open").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    daemon = daemon_factory()
    daemon.wait_recording()
    desktop = desktop_factory()
    tray = desktop.tray
    menu, icon = tray.icon.menu, tray.icon
    wait_until(lambda: tray.status.get("state") == "recording", what="the tray to show status")
    assert [i.text for i in menu.items if i.text != "- - - -"][:4] == [
        "Recording",
        "Profile",
        "Pause",
        "Forget",
    ]
    recording = menu_item(menu, "Recording")
    assert recording.checked is True and recording.default

    recording(icon)
    assert daemon.status()["state"] == "recording off"
    assert menu_item(menu, "Recording").checked is False
    recording(icon)
    # the microphone is opened again, which may take a moment ("waiting for microphone")
    wait_until(lambda: daemon.status()["state"] == "recording", what="recording to resume")

    assert [i.text for i in menu_item(menu, "Profile").submenu.items] == [
        "default",
        "journal",
        "lectures",
        "meetings",
        "researcher",
        "work",
    ]
    menu_item(menu, "Profile", "work")(icon)
    assert daemon.status()["profile"] == "work"
    assert menu_item(menu, "Profile", "work").checked is True
    assert menu_item(menu, "Profile", "default").checked is False
    menu_item(menu, "Profile", "default")(icon)

    for label, seconds in (("15 minutes", 900), ("1 hour", 3600)):
        menu_item(menu, "Pause", label)(icon)
        status = daemon.status()
        assert status["state"].startswith("paused until")
        assert seconds - 60 < status["pause_ends"] - time.time() <= seconds
    menu_item(menu, "Pause", "Until I resume")(icon)
    assert daemon.status()["state"] == "paused until resumed"
    assert "paused until resumed" in tray.icon.title
    menu_item(menu, "Recording")(icon)  # the toggle resumes a pause
    daemon.wait_recording()

    pulse.play(speak("The concert starts at eight."))
    wait_for_hits("concert", 1, env=env)
    menu_item(menu, "Forget", "Last 5 minutes")(icon)
    answer_dialog(x_display, "^Earmark: forget$", "alt+n")  # No keeps everything
    assert len(earmark_json("search", "concert", env=env)) == 1
    menu_item(menu, "Forget", "Last 5 minutes")(icon)
    answer_dialog(x_display, "^Earmark: forget$", "alt+y")
    wait_until(lambda: earmark_json("search", "concert", env=env) == [], what="the forget")
    assert earmark_json("transcripts", env=env) == []

    menu_item(menu, "Search…")(icon)
    x_display.wait_window("^Earmark search$")
    desktop.call(desktop.search_window.hide)

    pulse.play(speak("Robert will send the slides by Friday."))
    wait_for_hits("slides", 1, env=env)
    menu_item(menu, "Export summary", "Today")(icon)
    answer_dialog(x_display, "^Earmark: export summary$", "alt+y")  # and open it
    wait_until(opened.exists, what="the summary to be opened")
    summary = Path(opened.read_text().strip())
    assert summary.parent == earmark_home / "data" / "exports" / "default"
    written = summary.read_text()
    assert written.startswith("---\n")
    overview = written.split("## Overview", 1)[1].split("\n## ", 1)[0]  # that very section
    assert re.search(r"^- \d\d:\d\d .*slides", overview, re.I | re.M), written
    opened.unlink()

    menu_item(menu, "Open data folder")(icon)
    wait_until(opened.exists, what="the file manager to be asked")
    assert opened.read_text().strip() == str(earmark_home / "data")

    menu_item(menu, "Quit")(icon)
    assert daemon.proc.wait(timeout=60) == 0


def test_hotkey_opens_search_and_the_window_finds_what_was_said(
    pulse, daemon_factory, desktop_factory, x_display, speak
):
    env = pulse.env
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The budget forecast for next quarter is ready."))
    wait_for_hits("budget", 1, env=env)
    desktop = desktop_factory()
    wait_until(lambda: desktop.hotkey is not None, what="the hotkey listener")
    assert desktop.hotkey.problem is None

    x_display.xdotool("key", "ctrl+alt+space")
    seconds = x_display.wait_window("^Earmark search$", timeout=5)
    print(f"hotkey to search window: {seconds * 1000:.0f} ms")
    x_display.xdotool("type", "--delay", "60", "budget")
    window = desktop.search_window
    wait_until(lambda: desktop.call(lambda: window.shown_query) == "budget", what="results")
    shown = desktop.call(lambda: window.results.get("1.0", "end"))
    assert "budget forecast" in shown
    assert "default  ·  microphone" in shown
    bold = desktop.call(lambda: window.results.tag_ranges("match"))
    assert bold and desktop.call(lambda: window.results.get(bold[0], bold[1])) == "budget"

    x_display.xdotool("key", "Return")
    x_display.wait_window("^Earmark conversation")
    conversation = x_display.windows("^Earmark conversation")[0]
    x_display.xdotool("windowfocus", "--sync", conversation)
    x_display.xdotool("key", "Escape")
    x_display.wait_window("^Earmark conversation", gone=True)

    x_display.xdotool("key", "ctrl+a")
    x_display.xdotool("type", "--delay", "60", "nothing like it")
    wait_until(lambda: desktop.call(lambda: window.shown_query) == "nothing like it", what="none")
    status = desktop.call(lambda: window.status.cget("text"))
    assert status == "Nothing heard matches 'nothing like it'."
    x_display.xdotool("key", "Escape")
    x_display.wait_window("^Earmark search$", gone=True)


def test_conversation_copies_and_names_the_hit(
    pulse, daemon_factory, desktop_factory, x_display, speak
):
    from daemon.desktop.search_window import ConversationWindow

    env = pulse.env
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The meeting about the meeting room moved to nine."))
    time.sleep(1)
    pulse.play(speak("The concert starts at eight."))
    wait_for_hits("concert", 1, env=env)
    wait_for_hits("meeting", 1, env=env)
    desktop = desktop_factory()
    hit = desktop.ask("search", query="concert", profiles=["default"], limit=1)[0]
    view = desktop.call(
        lambda: ConversationWindow(desktop._root, desktop.search_window.backend, hit)
    )
    text = desktop.call(view.transcript)
    assert text.index("meeting") < text.index("concert")  # in time order
    desktop.call(view.copy)
    assert desktop.call(lambda: desktop._root.clipboard_get()) == text
    highlighted = desktop.call(lambda: view.text.get(*view.text.tag_ranges("hit")[:2]))
    assert "concert" in highlighted and "meeting" not in highlighted
    desktop.call(view.close)


def test_an_open_search_window_costs_no_audio(pulse, daemon_factory, x_display, speak):
    env = {**pulse.env, "DISPLAY": x_display.env["DISPLAY"]}
    daemon = daemon_factory(env=env, headless=False)
    daemon.wait_recording()
    x_display.wait_window("^Earmark: ")
    # The tray shows before pynput listens; a key pressed between the two would go unheard.
    wait_until(
        lambda: "search hotkey ctrl+alt+space is ready" in daemon.log.read_text(),
        what="the hotkey listener",
    )
    x_display.xdotool("key", "ctrl+alt+space")
    x_display.wait_window("^Earmark search$", timeout=5)
    x_display.xdotool("type", "budget")  # searching while speech is heard
    sentences = {
        "tuesday": "The budget review moves to next Tuesday.",
        "concert": "The concert starts at eight.",
        "experiment": "The pruning experiment failed again.",
    }
    for sentence in sentences.values():
        pulse.play(speak(sentence))
        time.sleep(1.5)
    for word in sentences:
        wait_for_hits(word, 1, env=env)
    assert x_display.windows("^Earmark search$")  # still open all along
    status = daemon.status()
    assert status["utterances_transcribed"] == 3 and status["dropped_blocks"] == 0
    assert daemon.stop() == 0


def test_without_a_display_run_says_so_and_records_headless(pulse, daemon_factory, tmp_path):
    env = {k: v for k, v in pulse.env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    daemon = daemon_factory(env=env, headless=False)
    daemon.wait_recording()
    assert daemon.stop() == 0
    lines = [line for line in daemon.log.read_text().splitlines() if line.startswith("earmark:")]
    assert lines == ["earmark: no display found, so no tray icon; running headless"]


def test_an_unavailable_hotkey_is_shown_and_search_stays_in_the_menu(
    pulse, daemon_factory, x_display, earmark_home
):
    (earmark_home / "config").mkdir(parents=True)
    (earmark_home / "config" / "desktop.yaml").write_text("search_hotkey: ctrl+alt+nosuchkey\n")
    env = {**pulse.env, "DISPLAY": x_display.env["DISPLAY"]}
    daemon = daemon_factory(env=env, headless=False)
    daemon.wait_recording()
    x_display.wait_window("search hotkey unavailable", what="the tooltip to say so")
    window, x, y = x_display.tray_icon()
    assert x_display.window_name(window) == (
        "Earmark: default, recording; search hotkey unavailable (hotkey 'ctrl+alt+nosuchkey': "
        "a key in it is not known (expected names such as ctrl, alt, shift, super, space, f1, "
        "or single characters))"
    )
    x_display.click(x, y, button=3)
    time.sleep(0.5)
    x_display.xdotool("key", "Down", "Down", "Down", "Down", "Down", "Return")  # Search…
    x_display.wait_window("^Earmark search$")
    assert daemon.stop() == 0


def test_scope_order_and_arrow_keys(
    pulse, daemon_factory, desktop_factory, x_display, speak, earmark_home
):
    env = pulse.env
    (earmark_home / "config" / "profiles").mkdir(parents=True)
    (earmark_home / "config" / "profiles" / "work.yaml").write_text(WORK_PROFILE)
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The meeting about the meeting room moved to nine."))
    wait_for_hits("meeting", 1, env=env)
    earmark("profile", "use", "work", env=env, check=True)
    pulse.play(speak("The concert meeting is at eight."))
    wait_for_hits("meeting", 1, env=env, args=("--profile", "work"))
    desktop = desktop_factory()
    window = desktop.search_window

    def shown() -> list[tuple[str, str]]:
        return desktop.call(lambda: [(h["profile"], h["text"]) for h in window.hits])

    desktop.call(desktop.show_search)
    x_display.wait_window("^Earmark search$")
    x_display.xdotool("type", "--delay", "60", "meeting")
    wait_until(lambda: desktop.call(lambda: window.shown_query) == "meeting", what="results")
    assert [p for p, _ in shown()] == ["work"]  # the active profile only
    assert "This profile (work)" == desktop.call(lambda: window.scope_active.cget("text"))

    desktop.call(window.scope_all.invoke)
    wait_until(lambda: len(shown()) == 2, what="both profiles' hits")
    assert [p for p, _ in shown()] == ["work", "default"]  # newest first
    desktop.call(window.order_best.invoke)
    wait_until(lambda: desktop.call(lambda: window.newest_first.get()) is False, what="order")
    # the older hit says "meeting" twice: the best match, first
    wait_until(lambda: [p for p, _ in shown()] == ["default", "work"], what="best match first")

    desktop.call(window.order_newest.invoke)
    wait_until(lambda: [p for p, _ in shown()] == ["work", "default"], what="newest first")
    x_display.xdotool("key", "Down")
    wait_until(lambda: desktop.call(lambda: window.selected) == 1, what="the arrow key")
    x_display.xdotool("key", "Return")
    x_display.wait_window("^Earmark conversation: default")  # the second hit's conversation


def test_conversation_plays_the_audio_a_profile_kept(
    pulse, daemon_factory, desktop_factory, speak, earmark_home, tmp_path, monkeypatch
):
    import subprocess
    import wave

    import numpy as np

    from daemon.desktop.search_window import ConversationWindow

    (earmark_home / "config" / "profiles").mkdir(parents=True)
    (earmark_home / "config" / "profiles" / "default.yaml").write_text(
        "description: Keeps audio.\nsources: [microphone]\nretention:\n  keep_audio: true\n"
    )
    daemon = daemon_factory()
    daemon.wait_recording()
    pulse.play(speak("The concert starts at eight."))
    wait_for_hits("concert", 1, env=pulse.env)
    earmark("pause", env=pulse.env, check=True)  # so the playback is not heard again
    desktop = desktop_factory()
    hit = desktop.ask("search", query="concert", profiles=["default"], limit=1)[0]
    view = desktop.call(
        lambda: ConversationWindow(desktop._root, desktop.search_window.backend, hit)
    )
    assert len(view.audio) == 1 and view.audio[0].startswith(str(earmark_home / "data" / "audio"))

    for name, value in pulse.vars.items():  # play through the test's PulseAudio server
        monkeypatch.setenv(name, value)
    recorded = tmp_path / "played.wav"
    recorder = subprocess.Popen(
        ["parecord", "--device=earmark_test.monitor", "--file-format=wav", str(recorded)],
        env=pulse.env,
    )
    time.sleep(0.5)
    desktop.search_window.backend.play(view.audio)
    time.sleep(0.5)
    recorder.terminate()
    recorder.wait(timeout=10)
    with wave.open(str(recorded)) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16)
    assert np.abs(samples).max() > 3000  # the kept speech came out of the speakers
    desktop.call(view.close)


def a_week_of_meetings(home: Path, *, now: float) -> int:
    """Real meeting talk (the labelled sentences' turns, with their speakers) filed under
    meetings in the days of this week so far, meeting after meeting; returns the words."""
    from datetime import datetime, timedelta

    from daemon.storage.search import SearchIndex
    from daemon.storage.store import Store
    from daemon.storage.utterances import NewSegment, NewUtterance

    records = [
        json.loads(line)
        for line in (Path(__file__).parent / "data/notes/labelled.jsonl").read_text().splitlines()
    ]
    today = datetime.fromtimestamp(now)
    monday = (today - timedelta(days=today.weekday())).replace(hour=0, minute=0, second=0)
    turns = [(speaker, text) for r in records for speaker, text in r["turns"]]
    words = sum(len(text.split()) for _, text in turns)
    span = (now - 120) - monday.timestamp()
    seconds_per_word = min(0.35, span * 0.8 / words)  # what fits before now
    (home / "data").mkdir(parents=True, exist_ok=True)
    store = Store(home / "data" / "earmark.db")
    at, batch = monday.timestamp() + 60, []
    for n, (speaker, text) in enumerate(turns):
        if n and n % 300 == 0:
            at += span * 0.2 / (len(turns) / 300)  # a pause between meetings
        end = at + max(1.0, len(text.split()) * seconds_per_word)
        segment = NewSegment(at, end, text, -0.2, 0.05, 1.3, [], speaker=speaker)
        batch.append(
            NewUtterance(f"week-{n}", "meetings", "microphone", at, end, "m", "en", [segment])
        )
        at = end + 0.3
        if len(batch) == 2000:
            store.utterances.add_many(batch)
            batch = []
    store.utterances.add_many(batch)
    SearchIndex(home / "data" / "index", "meetings").sync(store)
    store.close()
    return words


def test_a_week_of_talk_is_summarised_on_a_worker_while_the_tray_and_search_answer(
    pulse, daemon_factory, desktop_factory, x_display, earmark_home
):
    words = a_week_of_meetings(earmark_home, now=time.time())
    assert words > 300_000
    daemon = daemon_factory("--profile", "meetings")
    daemon.wait_recording()
    desktop = desktop_factory()
    tray = desktop.tray
    wait_until(lambda: tray.status.get("state") == "recording", what="the tray to show status")
    menu_item(tray.icon.menu, "Export summary", "This week")(tray.icon)
    wait_until(lambda: "writing the summary of this week" in tray.icon.title, what="the tooltip")
    answers, while_writing, deadline = [], 0, time.monotonic() + 120
    while not x_display.windows("^Earmark: export summary$"):
        assert time.monotonic() < deadline, f"no summary written: {desktop.problem}"
        started = time.perf_counter()
        status = desktop.ask("status", timeout=5)
        hits = desktop.ask("search", query="rubber", profiles=["meetings"], limit=5, timeout=5)
        answers.append(time.perf_counter() - started)
        while_writing += desktop.writing is not None
        assert status["state"] == "recording" and hits
        time.sleep(0.1)
    assert while_writing >= 3, "the export ended before status could be asked while it ran"
    assert max(answers) < 1.0, answers  # status and search never wait for the export
    answer_dialog(x_display, "^Earmark: export summary$", "alt+n")
    assert "writing" not in tray.icon.title
    [written] = (earmark_home / "data" / "exports" / "meetings").glob("*.md")
    text = written.read_text()
    assert text.count("## Conversation ") > 10 and "### Decisions" in text
    assert daemon.stop() == 0


def test_the_search_window_shows_who_said_what(
    pulse, daemon_factory, desktop_factory, x_display, tmp_path
):
    from daemon.desktop.search_window import ConversationWindow

    vtt = tmp_path / "call.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n"
        "<v Maria Lopez>Which case material feels best?\n\n"
        "00:00:05.000 --> 00:00:08.000\n<v Tom>Rubber feels better than plastic in the hand.\n"
    )
    at = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() - 600))
    earmark("import", str(vtt), "--profile", "default", "--at", at, check=True, env=pulse.env)
    daemon = daemon_factory()
    daemon.wait_recording()
    desktop = desktop_factory()
    wait_until(lambda: desktop.hotkey is not None, what="the hotkey listener")
    x_display.xdotool("key", "ctrl+alt+space")
    x_display.wait_window("^Earmark search$", timeout=5)
    x_display.xdotool("type", "--delay", "60", "speaker:tom rubber")
    window = desktop.search_window
    wait_until(
        lambda: desktop.call(lambda: window.shown_query) == "speaker:tom rubber", what="results"
    )
    shown = desktop.call(lambda: window.results.get("1.0", "end"))
    assert "Tom: Rubber feels better" in shown and "Maria" not in shown
    hit = desktop.ask("search", query="rubber", profiles=["default"], limit=1)[0]
    view = desktop.call(
        lambda: ConversationWindow(desktop._root, desktop.search_window.backend, hit)
    )
    assert (
        desktop.call(view.transcript)
        .splitlines()[0]
        .endswith("Maria Lopez: Which case material feels best?")
    )
    x_display.xdotool("key", "Escape")
