"""One conversation, two microphones: telling when two inputs heard the same speech.

The laptop microphone and a wearable under the same profile often hear one conversation at the
same time. An utterance about to be stored is the same speech as what another input already
stored when they overlap in time (allowing for a second of clock difference) and their words
mostly agree. Then only the more confident transcript is kept.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

__all__ = ["one_device_heard_it_twice", "same_speech"]

_CLOCK_SLACK_S = 1.0
_MIN_TIME_OVERLAP = 0.5  # of the shorter of the two
_MIN_WORD_AGREEMENT = 0.6
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def same_speech(
    a_span: tuple[float, float], a_text: str, b_span: tuple[float, float], b_text: str
) -> bool:
    """Whether two utterances from different inputs are one piece of speech heard twice."""
    overlap = min(a_span[1], b_span[1]) - max(a_span[0], b_span[0]) + _CLOCK_SLACK_S
    shorter = min(a_span[1] - a_span[0], b_span[1] - b_span[0])
    if shorter <= 0 or overlap / shorter < _MIN_TIME_OVERLAP:
        return False
    a, b = _words(a_text), _words(b_text)
    if not a or not b:
        return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= _MIN_WORD_AGREEMENT


def one_device_heard_it_twice(
    a_span: tuple[float, float], a_text: str, b_span: tuple[float, float], b_text: str
) -> bool:
    """Whether two utterances of one device are the same audio that reached the daemon twice
    (streamed live, its answer lost, then uploaded from the device's buffer). One device's
    clock needs no slack: they overlap for at least half of the shorter, and most of the
    shorter's words are in the longer, in order (one may hold only part of the other)."""
    overlap = min(a_span[1], b_span[1]) - max(a_span[0], b_span[0])
    shorter = min(a_span[1] - a_span[0], b_span[1] - b_span[0])
    if shorter <= 0 or overlap / shorter < _MIN_TIME_OVERLAP:
        return False
    a, b = _words(a_text), _words(b_text)
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if not short:
        return False
    blocks = SequenceMatcher(None, short, long, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(short) >= _MIN_WORD_AGREEMENT
