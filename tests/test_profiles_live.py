"""Profiles end to end: conversations spoken into the daemon, then each profile's summary."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from realparts import earmark, earmark_json, wait_for_hits

pytestmark = pytest.mark.integration


def export(profile: str, env) -> str:
    result = earmark("export", "--profile", profile, "-o", "-", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def say(pulse, speak, *sentences: str) -> None:
    for sentence in sentences:
        pulse.play(speak(sentence))
        time.sleep(1.2)


def test_spoken_meeting_lecture_and_research_each_summarised_in_their_own_profile(
    pulse, daemon_factory, speak
):
    env = pulse.env
    daemon = daemon_factory("--profile", "meetings")
    daemon.wait_recording()
    say(
        pulse,
        speak,
        "Robert will send the slides by Friday.",
        "We have decided to move the launch tomorrow.",
        "Who will pay for the new servers?",
    )
    wait_for_hits("servers", 1, env=env, args=("--profile", "meetings"))

    earmark("profile", "use", "lectures", env=env, check=True)
    say(pulse, speak, "Photosynthesis is defined as the process that turns light into sugar.")
    wait_for_hits("sugar", 1, env=env, args=("--profile", "lectures"))

    earmark("profile", "use", "researcher", env=env, check=True)
    say(
        pulse,
        speak,
        "What if we remove the attention heads?",
        "The second experiment failed again.",
    )
    wait_for_hits("failed", 1, env=env, args=("--profile", "researcher"))

    friday = date.today() + timedelta(days=(4 - date.today().weekday()) % 7)
    meetings = export("meetings", env)
    assert f"(owner: Robert, due: {friday.isoformat()})" in meetings
    assert "- [ ] Robert will send the slides by Friday" in meetings
    decisions = meetings.split("### Decisions")[1].split("###")[0]
    assert "We have decided to move the launch tomorrow" in decisions
    questions = meetings.split("### Questions")[1].split("###")[0]
    assert "Who will pay for the new servers?" in questions

    lectures = export("lectures", env)
    definitions = lectures.split("## Key terms and their definitions")[1].split("##")[0]
    assert "**Photosynthesis**: Photosynthesis is defined as the process" in definitions

    research = export("researcher", env)
    ideas = research.split("## Ideas")[1].split("##")[0]
    failed = research.split("## What failed")[1].split("##")[0]
    assert "What if we remove the attention" in ideas
    assert "failed again" in failed

    # each profile's summary and search hold only what was heard under it
    assert "Photosynthesis" not in meetings and "attention" not in meetings
    assert "Robert" not in lectures and "attention" not in lectures
    assert "Robert" not in research and "Photosynthesis" not in research
    assert earmark_json("search", "sugar", "--profile", "meetings", env=env) == []
    assert earmark_json("search", "slides", "--profile", "researcher", env=env) == []
    assert len(earmark_json("search", "sugar", "--all", env=env)) == 1
