"""The tray's pictures and words for each state (the live icon is tested in test_desktop)."""

import pytest

from daemon.desktop.tray import (
    CATCHING_UP,
    ERROR,
    OFF,
    PAUSED,
    RECORDING,
    WAITING,
    draw_icon,
    look_of,
    tooltip_of,
)

BASE = {"profile": "meetings", "backlog": 0, "model_state": "loaded", "error": None}


@pytest.mark.parametrize(
    ("status", "look"),
    [
        ({"state": "recording"}, RECORDING),
        ({"state": "recording off"}, OFF),
        ({"state": "paused until 15:30"}, PAUSED),
        ({"state": "paused until resumed"}, PAUSED),
        ({"state": "waiting for microphone"}, WAITING),
        ({"state": "recording", "backlog": 7}, CATCHING_UP),
        ({"state": "recording (model loading)", "model_state": "loading"}, CATCHING_UP),
        ({"state": "disk full"}, ERROR),
        ({"state": "error", "error": "capture stopped: boom"}, ERROR),
    ],
)
def test_each_state_has_its_look(status, look):
    assert look_of({**BASE, **status}) is look


def test_every_look_is_a_different_picture():
    pictures = {
        look.name: draw_icon(look).tobytes()
        for look in (RECORDING, PAUSED, OFF, WAITING, CATCHING_UP, ERROR)
    }
    assert len(set(pictures.values())) == 6
    assert draw_icon(RECORDING).size == (64, 64)


def test_tooltip_names_profile_and_state_in_words():
    assert tooltip_of({**BASE, "state": "recording"}) == "Earmark: meetings, recording"
    assert (
        tooltip_of({**BASE, "state": "recording", "backlog": 12})
        == "Earmark: meetings, recording, catching up on 12 utterances"
    )
    waiting = {**BASE, "state": "waiting for microphone", "source_reason": "device lost"}
    assert tooltip_of(waiting) == "Earmark: meetings, waiting for microphone (device lost)"
    assert tooltip_of({**BASE, "state": "recording"}, hotkey_problem="no RECORD") == (
        "Earmark: meetings, recording; search hotkey unavailable (no RECORD)"
    )
    assert tooltip_of({**BASE, "state": "recording", "writing": "this week"}) == (
        "Earmark: meetings, recording; writing the summary of this week..."
    )
