"""Redaction: what a profile never lets reach the store, the index or an export.

Built-in detectors find email addresses, phone numbers and payment card numbers, both as they are
written and as Whisper writes them when they are read aloud ("maria at work dot org",
"4,24,24,24,..."), digits read out one by one ("8 8 4 2", "four four seven one"), and every
number of an utterance that speaks of a private one ("my PIN", "the door code"); a profile adds
its own regular expressions. Redaction runs on each segment's text and words before the
utterance is committed. The README lists exactly what is hidden.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.core.profiles import Redaction

__all__ = ["Redactor", "DETECTORS", "redactor_for"]

_TLD = r"(?:com|org|net|edu|gov|io|co|uk|de|fr|nl|es|it|eu|ai|dev|app|me|info|biz|us|ca)"
_DOT = r"\s*(?:\.|\bdot\b)\s*"  # "example.com", or read aloud: "example dot com"
_DOMAIN = rf"(?:www{_DOT})?[\w-]+(?:{_DOT}[\w-]+)*{_DOT}{_TLD}\b"
# each alternative starts only where a run of name characters starts: scanning from every
# character inside a long run would take time in the square of its length
_START = r"(?<![\w.+-])"
_EMAIL = re.compile(
    rf"{_START}[\w.+-]+\s*@\s*[\w-]+(?:{_DOT}[\w-]+)+"  # written, spaces or not
    rf"|{_START}[\w.+-]+at\s*{_DOMAIN}"  # read aloud and run together: "Robertat email.com"
    rf"|(?:{_START}[\w.+-]+\s+)?\bat\s+{_DOMAIN}",  # read aloud: "maria at work.org"
    re.I,
)
# digits and what people put between groups of them: spaces (no-break ones too), commas, dots,
# slashes and dashes of every length
_DIGIT_RUN = re.compile(r"(?<!\d)\+?\d(?:[\s,./\-\u2010-\u2015]{0,3}\d)+")
_LONE = re.compile(r"\d+")
_DIGIT_WORD = r"(?:\d|zero|oh|one|two|three|four|five|six|seven|eight|nine)"
# digits read out one by one, as a PIN or an account number is: four or more single digits or
# their words in a row ("1, 2, 3, 4", "8 8 4 2", "one two three four"), whatever is said around
_READ_OUT = re.compile(rf"\b{_DIGIT_WORD}\b(?:[\s,\-]{{1,3}}{_DIGIT_WORD}\b){{3,}}", re.I)
# in an utterance that speaks of a private number, its digits' words too ("one two three")
_SPELLED = re.compile(
    r"\b(?:zero|one|two|three|four|five|six|seven|eight|nine)\b"
    r"(?:[\s,\-]{1,3}(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b)+",
    re.I,
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d{1,2}[/.-]\d{1,2}[/.-](?:\d{2}|\d{4})$")
# a quantity: thousands grouped by commas, a decimal fraction, or at most six digits in a row
_PLAIN_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^\d+\.\d+$|^\d{1,6}$")
# words that say a private number is being read out; the model often garbles the number itself
# ("My card number is 4,242", "call me on 42424"), so every number said with them is hidden
_NUMBER_CUE = re.compile(
    r"\b(?:credit|debit|bank)\s+card"
    r"|\b(?:card|account|phone|mobile|cell|routing|passport|insurance|policy)\s+number\b"
    r"|\b(?:my|your|his|her|their)\s+(?:\w+\s+)?number\b"
    r"|\b(?:pin|security)\s+(?:number|code)\b|\bpin\s+is\b|\b(?:cvv|cvc|iban)\b"
    r"|\b(?:pass|door|access|alarm|entry|lock|safe)\s*code\b|\bpassword\b|\bcode for the door\b"
    r"|\b(?:my|your|the)\s+pass\b"
    r"|\bsort\s+code\b|\bsocial\s+security\b|\bcall\s+me\s+(?:on|at)\b",
    re.I,
)

DETECTORS = ("email", "phone", "card")
_NUMBER_LABELS = ("[card]", "[phone]", "[number]")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _number_kind(run: str) -> str | None:
    """'card' for 13 digits or more, 'phone' for 7 to 12 that are no quantity; else None."""
    count = _digits(run)
    if count >= 13:
        return "card"
    if count >= 7 and not _DATE.match(run) and not _PLAIN_NUMBER.match(run):
        return "phone"
    return None


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    label: str


class Redactor:
    def __init__(self, detectors: Sequence[str] = DETECTORS, patterns: Sequence[str] = ()):
        self.detectors = set(detectors)
        self.patterns = [re.compile(p, re.I) for p in patterns]

    @property
    def active(self) -> bool:
        return bool(self.detectors or self.patterns)

    def spans(self, text: str, *, all_numbers: bool = False) -> list[_Span]:
        """What to hide in a text; with all_numbers, every number too (see `utterance`)."""
        found: list[_Span] = []
        if "email" in self.detectors:
            found += [_Span(m.start(), m.end(), "[email]") for m in _EMAIL.finditer(text)]
        if self.detectors & {"phone", "card"}:
            for m in _DIGIT_RUN.finditer(text):
                kind = _number_kind(m[0])
                if all_numbers and kind is None:
                    kind = "number"
                if kind in self.detectors or kind == "number":
                    found.append(_Span(m.start(), m.end(), f"[{kind}]"))
            found += [_Span(m.start(), m.end(), "[number]") for m in _READ_OUT.finditer(text)]
            if all_numbers:  # every number, a lone digit too, and digits said as words
                found += [_Span(m.start(), m.end(), "[number]") for m in _LONE.finditer(text)]
                found += [_Span(m.start(), m.end(), "[number]") for m in _SPELLED.finditer(text)]
        for pattern in self.patterns:
            found += [
                _Span(m.start(), m.end(), "[redacted]") for m in pattern.finditer(text) if m[0]
            ]
        merged: list[_Span] = []
        for span in sorted(found, key=lambda s: (s.start, -s.end)):
            if merged and span.start < merged[-1].end:
                last = merged[-1]
                merged[-1] = _Span(last.start, max(last.end, span.end), last.label)
            else:
                merged.append(span)
        return merged

    def text(self, text: str, *, all_numbers: bool = False) -> str:
        for span in reversed(self.spans(text, all_numbers=all_numbers)):
            text = text[: span.start] + span.label + text[span.end :]
        return text

    def utterance(self, texts: Sequence[str]) -> tuple[list[str], bool]:
        """Redact the segments of one utterance; returns them and whether numbers go too.

        A card or phone number read aloud can spill over Whisper's segments ("... 24,24,22"
        then "for $4,242"), and the model often garbles it ("My card number is 4,242"): once
        one is found, or the utterance speaks of one ("card number", "my number", "PIN code"),
        every number in the utterance is hidden.
        """
        redacted = [self.text(t) for t in texts]
        spilled = any(label in r for r in redacted for label in _NUMBER_LABELS) or bool(
            self.detectors & {"phone", "card"} and _NUMBER_CUE.search(" ".join(texts))
        )
        if spilled:
            redacted = [self.text(t, all_numbers=True) for t in texts]
        return redacted, spilled

    def segments(self, segments: Sequence) -> tuple[list, bool]:
        """One utterance's segments (anything with `text` and `words`) with what must not be
        kept hidden in both; and whether its audio must go too.

        It must when anything was hidden, and when the utterance speaks of a private number even
        if none of its digits were written: the audio still says them.
        """
        if not self.active:
            return list(segments), False
        texts, all_numbers = self.utterance([seg.text for seg in segments])
        result, changed = [], False
        for seg, text in zip(segments, texts, strict=True):
            if text != seg.text:
                changed = True
                words = self.words(seg.words, all_numbers=all_numbers)
                seg = dataclasses.replace(seg, text=text, words=tuple(words))
            result.append(seg)
        return result, changed or all_numbers

    def words(self, words: Sequence[tuple], *, all_numbers: bool = False) -> list[tuple]:
        """Word timings with the redacted words replaced: the first by the label, the rest gone."""
        joined, positions = "", []
        for word in words:
            start = len(joined) + (1 if joined else 0)
            joined = f"{joined} {word[2]}" if joined else word[2]
            positions.append((start, len(joined)))
        spans = self.spans(joined, all_numbers=all_numbers)
        kept, used = [], set()
        for word, (start, end) in zip(words, positions, strict=True):
            span = next((s for s in spans if start < s.end and end > s.start), None)
            if span is None:
                kept.append(tuple(word))
            elif span not in used:
                used.add(span)
                kept.append((word[0], word[1], span.label, word[3]))
        return kept


@functools.lru_cache(maxsize=32)
def redactor_for(settings: Redaction) -> Redactor:
    """The redactor of a profile's redaction settings (made once per settings)."""
    return Redactor(settings.detectors, settings.patterns)
