"""Private numbers and addresses said aloud, through the real transcriber: none reach the store."""

from __future__ import annotations

import re

import pytest
from realparts import earmark, earmark_json
from test_redaction import spoken

pytestmark = pytest.mark.integration


def test_spoken_private_numbers_and_addresses_never_reach_the_store(speak):
    rows = spoken()
    clips = [str(speak(said)) for said, _, _ in rows]
    imported = earmark("import", *clips, "--at", "2026-11-20T10:00")
    assert imported.returncode == 0, imported.stderr
    stored = earmark_json("transcripts", "--since", "2026-11-20", "--until", "2026-11-20")
    assert len(stored) >= len(rows) // 2  # they were heard...
    text = " ".join(s["text"] for s in stored)
    assert not re.search(r"\d", text), text  # ... and not a digit of them kept
    assert not re.search(r"@|\.(?:com|org|uk)\b", text, re.I), text
    digits_said = r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b"
    assert not re.search(rf"{digits_said}(?:\W+{digits_said}){{3}}", text, re.I), text
    assert "[number]" in text and "[email]" in text
