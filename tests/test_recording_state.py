import stat
import time

from daemon.core.recording_state import OFF, RecordingState


def test_toggle_pause_resume_and_their_words():
    state = RecordingState(profile="meetings")
    assert state.halt_reason() is None
    off = state.toggled()
    assert off.halt_reason() == OFF and off.profile == "meetings"
    assert off.toggled().halt_reason() is None

    now = time.time()
    paused = state.paused_for(15 * 60, now=now)
    ends = time.strftime("%H:%M", time.localtime(now + 15 * 60))
    assert paused.halt_reason(now) == f"paused until {ends}"
    assert not paused.expired(now) and paused.expired(now + 15 * 60)
    assert paused.halt_reason(now + 15 * 60) is None  # a pause that ran out listens again
    assert paused.toggled().halt_reason(now) is None  # the toggle resumes a paused recording

    forever = state.paused_for(None)
    assert forever.halt_reason() == "paused until resumed" and not forever.expired()
    assert forever.resumed() == state


def test_saved_privately_and_survives_a_restart(tmp_path):
    path = tmp_path / "state.json"
    RecordingState(profile="lectures").paused_for(None).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = RecordingState.load(path)
    assert loaded.profile == "lectures" and loaded.halt_reason() == "paused until resumed"


def test_missing_or_damaged_file_means_recording_with_the_default_profile(tmp_path):
    path = tmp_path / "state.json"
    assert RecordingState.load(path) == RecordingState()
    path.write_text("{not json")
    assert RecordingState.load(path) == RecordingState()
    path.write_text('["a list"]')
    assert RecordingState.load(path) == RecordingState()
