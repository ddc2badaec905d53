"""One conversation, two microphones: telling when two inputs heard the same speech.

The laptop microphone and a wearable under the same profile often hear one conversation at the
same time. An utterance about to be stored is the same speech as what another input already
stored when they overlap in time (allowing for a second of clock difference) and their words
mostly agree. Then only the more confident transcript is kept.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from difflib import SequenceMatcher

from daemon.capture.sources.file import IMPORTED
from daemon.storage.spool import SpooledUtterance
from daemon.storage.store import Store

__all__ = ["OtherInputs", "one_device_heard_it_twice", "same_speech"]

log = logging.getLogger(__name__)

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


class OtherInputs:
    """Keeps one transcript of speech that two inputs (or one device twice) heard."""

    def __init__(self, store: Store, remove: Callable[[list], None]):
        self.store = store
        self.remove = remove  # takes stored utterances out of the store, the indexes and the disk
        self.heard_twice = 0  # utterances two inputs heard, of which one transcript was kept

    def keep(self, item: SpooledUtterance, segments: list) -> bool:
        """When another input already stored this same speech, keep the more confident
        transcript: False drops this one; True keeps it (having deleted the other)."""
        if item.source.startswith(IMPORTED):
            return True  # a file imported is kept as asked, even twice
        text = " ".join(s.text for s in segments)
        others = self.store.utterances.heard_alongside(
            profile=item.profile, start=item.start - 1.0, end=item.end + 1.0
        )
        if not others or not segments:
            return True
        # the same device's audio twice (a live chunk whose answer was lost, then uploaded):
        # the longer hearing holds all of it, so it is the one kept
        twice = [
            other
            for other in others
            if other[0].source == item.source
            and one_device_heard_it_twice(
                (item.start, item.end), text, (other[0].start, other[0].end), other[1]
            )
        ]
        if twice:
            self.heard_twice += 1
            if max(u.end - u.start for u, _, _ in twice) >= item.end - item.start:
                return False
            self.remove([u for u, _, _ in twice])
        others = [other for other in others if other[0].source != item.source]
        if not others:
            return True
        span = (min(u.start for u, _, _ in others), max(u.end for u, _, _ in others))
        joined = " ".join(t for _, t, _ in others)
        if not same_speech((item.start, item.end), text, span, joined):
            return True
        self.heard_twice += 1
        mine = sum(s.avg_logprob for s in segments) / len(segments)
        theirs = sum(p for _, _, p in others) / len(others)
        kept = others[0][0].source if theirs >= mine else item.source
        log.info(
            "%s and %s heard the same speech at %s; keeping %s's transcript",
            item.source,
            others[0][0].source,
            time.strftime("%H:%M:%S", time.localtime(item.start)),
            kept,
        )
        if theirs >= mine:
            return False
        self.remove([u for u, _, _ in others])
        return True
