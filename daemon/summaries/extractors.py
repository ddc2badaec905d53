"""What a summary is made of, found in transcripts offline and deterministically: sentences,
definitions, the people mentioned, due dates, a profile's own patterns, conversations.

Each extractor takes sentences (text, the time they were said, and who said it when known) and
returns `Item`s that carry that time, so an export can point back into the transcript. They are
rules over the wording people use (and Whisper writes): a few sentence shapes, and refusals for
the near misses. The notes of a conversation (overview, decisions, action items, questions) read
turns rather than single sentences and live in `notes.py`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources

__all__ = [
    "STOP_WORDS",
    "Sentence",
    "Item",
    "split_sentences",
    "definitions",
    "mentions",
    "matching",
    "due_date",
]


@dataclass(frozen=True)
class Sentence:
    text: str
    at: float  # when it was said, seconds since the epoch
    speaker: str | None = None  # who said it, when known


@dataclass(frozen=True)
class Item:
    """Something found in a sentence, with the time it was said."""

    text: str
    at: float
    owner: str | None = None  # action items
    due: str | None = None  # action items: an ISO date
    term: str | None = None  # definitions
    names: tuple[str, ...] = field(default=())  # mentions
    speaker: str | None = None  # who said it, when known
    agreed_by: tuple[str, ...] = field(default=())  # decisions: who said yes to it


def split_sentences(
    text: str, at: float, duration: float = 0.0, speaker: str | None = None
) -> list[Sentence]:
    """Sentences of a segment's text, each timed by where it starts within the segment."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])", text) if p.strip()]
    sentences, offset = [], 0
    for part in parts:
        share = offset / max(1, len(text))
        sentences.append(Sentence(part, at + duration * share, speaker))
        offset += len(part) + 1
    return sentences


def _clean(text: str) -> str:
    return text.strip().rstrip(".!").strip()


# -- due dates ------------------------------------------------------------------------------

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip
_DUE = re.compile(
    r"\b(?P<bare>today|tonight|tomorrow)\b|"
    r"\b(?:by|on|before|until|due|for)\s+(?:the\s+)?(?P<when>"
    r"today|tonight|tomorrow|end of (?:the |this )?(?:day|week|month)|next week|"
    r"(?:next |this )?(?:" + "|".join(_WEEKDAYS) + r")|"
    r"(?:" + "|".join(_MONTHS) + r")\s+\d{1,2}(?:st|nd|rd|th)?|"
    r"\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?\s+(?:" + "|".join(_MONTHS) + r")|"
    r"\d{1,2}(?:st|nd|rd|th)|\d{4}-\d{2}-\d{2})\b",
    re.I,
)


def due_date(text: str, said_at: float) -> str | None:
    """The date a sentence names as a deadline ("by Friday", "by the 3rd"), as ISO."""
    m = _DUE.search(text)
    if not m:
        return None
    when = (m["when"] or m["bare"]).lower()
    today = datetime.fromtimestamp(said_at).date()
    day: date | None = None
    if when in ("today", "tonight", "end of the day", "end of day", "end of this day"):
        day = today
    elif when == "tomorrow":
        day = today + timedelta(days=1)
    elif when == "next week":
        day = today + timedelta(days=7 - today.weekday())
    elif when.startswith("end of") and when.endswith("week"):
        day = today + timedelta(days=(4 - today.weekday()) % 7)
    elif when.startswith("end of") and when.endswith("month"):
        first_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        day = first_next - timedelta(days=1)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", when):
        day = date.fromisoformat(when)
    elif any(when.endswith(w) for w in _WEEKDAYS):
        target = _WEEKDAYS.index(when.split()[-1])
        ahead = (target - today.weekday()) % 7
        if when.startswith("next ") and ahead == 0:
            ahead = 7
        elif when.startswith("next ") and today.weekday() + ahead <= 6:
            ahead += 7  # "next Friday" said on a Monday is the Friday after this week's
        day = today + timedelta(days=ahead)
    else:
        number = int(re.search(r"\d+", when)[0])
        month_name = next((mo for mo in _MONTHS if mo in when), None)
        try:
            if month_name:
                day = date(today.year, _MONTHS.index(month_name) + 1, number)
                if day < today:
                    day = day.replace(year=today.year + 1)
            else:
                day = today.replace(day=number)
                if day < today:
                    day = (today.replace(day=1) + timedelta(days=32)).replace(day=number)
        except ValueError:
            return None
    return day.isoformat()


# -- definitions ------------------------------------------------------------------------------

_TERM = r"(?:an? |the )?(?P<term>[A-Za-z][\w'-]*(?: [A-Za-z][\w'-]*){0,4}?)"
_LAST_TERM = r"(?:the )?(?P<term>(?:[A-Z][\w'-]* )*[\w'-]+)"  # "... the Krebs cycle"
_DEFINITION_SHAPES = [
    re.compile(rf"^{_TERM},? (?:(?:is|are) (?:called|known as)|(?:is |are )?defined? as) "
               r"(?P<meaning>.+)$", re.I),  # Whisper sometimes drops the "is", or the "d"
    re.compile(rf"^{_TERM},? (?:means|refers to|stands for|denotes|describes) (?P<meaning>.+)$",
               re.I),
    re.compile(rf"^(?:by|with) {_TERM},? (?:we|i|they|people) mean (?P<meaning>.+)$", re.I),
    re.compile(rf"^(?i:we|i|people|they) call (?P<meaning>.+) {_LAST_TERM}$"),
    re.compile(rf"^{_TERM},? (?:is|are) (?P<meaning>(?:an?|the) (?:[\w-]+ ){{0,6}}?[\w-]+,? "
               r"(?:that|which|where|whose|who|in which|used to|used for) .+)$", re.I),
]  # fmt: skip
_ASIDE = re.compile(r", (?:which|who) [^,]+,")  # "The mitochondria, which are organelles, are"
_NOT_MEANINGS = re.compile(
    r"^(?:nothing|everything|a lot|so much|much|little|that|we|you|i|he|she|they|it)\b", re.I
)
_NOT_TERMS = {
    "this", "that", "it", "he", "she", "they", "there", "which", "what", "here", "who", "one",
    "everything", "something", "nothing", "everyone", "someone", "today", "tomorrow", "idea",
    "plan", "problem", "point", "thing", "my point", "meeting", "question", "process",
}  # fmt: skip


def definitions(sentences: Iterable[Sentence]) -> list[Item]:
    """Terms with the sentence that defines them: "X is defined as", "X means", "X is a Y that"."""
    found = []
    for s in sentences:
        text = _clean(s.text)
        for shape in _DEFINITION_SHAPES:
            m = shape.match(_ASIDE.sub("", text))
            if (
                m
                and m["term"].lower() not in _NOT_TERMS
                and len(m["meaning"].split()) >= 2
                and not _NOT_MEANINGS.match(m["meaning"])
            ):
                found.append(Item(text, s.at, term=m["term"]))
                break
    return found


# -- mentions ------------------------------------------------------------------------------------

_NOT_NAMES = {
    "I", "I'm", "I'll", "I've", "I'd", "OK", "Okay", "The", "This", "That", "These", "Those", "We",
    "It", "So", "And", "But", "Or", "If", "Then", "Well", "Yes", "No", "Yeah", "Let's", "What",
    "When", "Where", "Why", "How", "Who", "Which", "Please", "Thanks", "Thank", "Hello", "Hi",
    "Good", "Great", "Right", "Also", "Maybe", "Just", "Now", "Today", "Tomorrow", "Our", "My",
    "Your", "Their", "There", "Here", "A", "An", "In", "On", "At", "For", "To", "With", "After",
    "Before", "Can", "Could", "Should", "Would", "Will", "Do", "Does", "Did", "Is", "Are", "Was",
    "Action", "Decision", "Agreed", "Question", "Item", "Mr", "Mrs", "Ms", "Dr", "Professor",
    "Alright", "All", "Everyone", "Nobody", "Someone", "Anyone", "Sure", "Sorry", "Oh", "Hey",
    "Christmas", "Easter", "English", "French", "German", "Spanish", "European", "American",
    "Python", "Zoom", "Slack", "Google", "Excel", "Friday", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Saturday", "Sunday", "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
    # pronouns and the words that open spoken sentences: "Actually, ..." is nobody's name
    "You", "He", "She", "They", "Me", "Him", "Us", "Them", "Actually", "Basically", "Anyway",
    "Obviously", "Honestly", "Really", "Perhaps", "Hopefully", "Unfortunately", "Apparently",
    "Certainly", "Definitely", "Exactly", "Indeed", "Otherwise", "Still", "Though", "Yesterday",
    "Tonight", "Like", "Hmm", "Um", "Uh", "Mm", "Wow", "Cool", "Fine", "Nice", "Absolutely",
    "Probably", "Because", "Since", "While", "Although", "As", "Not", "Only", "Every", "Each",
    "Some", "Any", "Another", "Other", "Most", "More", "Many", "Next", "Last", "First", "Second",
    "Let", "Even", "Once", "Besides", "Meanwhile", "Instead",
}  # fmt: skip
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Miss|Professor|Prof|Minister|Senator)\.? "
_CAPITALISED = re.compile(rf"\b(?:{_TITLE})?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?\b")
# What people do or have: a capitalised word next to one of these is taken for a person.
_PERSON_AFTER = re.compile(
    r"(?:'s\b|,\s+(?:can|could|would|will|do|did|are|have|what|how|please|you)\b|"
    r"\s+(?:and (?:i|me)|said|says|thinks|thought|wrote|told|asked|agreed|suggested|"
    r"proposed|presented|explained|mentioned|found|wants|wanted|knows|will|'ll|is going to|"
    r"was saying|says)\b)"
)
_PERSON_BEFORE = re.compile(
    r"(?:\b(?:talk(?:ed)? to|spoke to|speak to|ask(?:ed)?|tell|told|thank(?:s)?|thank you|"
    r"email(?:ed)?|call(?:ed)?|met|meet|with|from|cc|and|hi|hello|hey|dear|by|like|for)\s+)$",
    re.I,
)


# first names that are as often a place or a word ("Paris is lovely in spring")
_AMBIGUOUS_NAMES = {
    "Paris", "Virginia", "Georgia", "Florence", "Austin", "Sydney", "Chelsea", "China", "India",
    "Israel", "Carolina", "Dallas", "Houston", "Lincoln", "Washington", "Jersey", "Madison",
    "Phoenix", "Eugene", "Camden", "Troy", "Orlando", "Columbus", "Cleveland", "Denver",
    "Charlotte", "Victoria", "Kent", "Vienna", "Adelaide", "Regina", "Montana", "Dakota",
    "Alberta", "Brittany", "Holland", "Ireland", "Asia", "America", "Europe", "Africa", "Canada",
    "Wales", "England", "Scotland", "Will", "May", "June", "April", "August", "Bill", "Mark",
    "Grant", "Hope", "Joy", "Faith", "Rose", "Art", "Page", "Ray", "Guy", "Sky", "Summer",
    "Autumn", "Dawn", "Iris", "Ivy", "Holly", "Lily", "Daisy", "Ruby", "Amber", "Crystal",
    "Pearl", "Honey", "Sunny", "Major", "King", "Prince", "Earl", "Royal", "Chase", "Miles",
    "Case", "Long", "Young", "Rich", "See", "Sung", "Java",
}  # fmt: skip


@functools.cache
def _first_names() -> frozenset[str]:
    """First names people are given (the US census lists the PyPI package `names` ships),
    less those that are as often a place or a word."""
    found: set[str] = set()
    for table in ("dist.male.first", "dist.female.first"):
        text = resources.files("names").joinpath(table).read_text(encoding="utf-8")
        found.update(line.split()[0].capitalize() for line in text.splitlines() if line.strip())
    words = {w.capitalize() for w in STOP_WORDS}
    return frozenset(n for n in found if len(n) > 2) - _AMBIGUOUS_NAMES - words


def mentions(sentences: Iterable[Sentence], *, known: Sequence[str] = ()) -> list[Item]:
    """People named: a first name people are given, a capitalised word with a title ("Dr.
    Tanaka"), or one said the way people are spoken of or to ("Priya's paper", "I talked to
    Bob", "Carol said"); and the profile's vocabulary and the talk's speakers, when they come
    up."""
    found = []
    sentences = list(sentences)
    speakers = {s.speaker for s in sentences if s.speaker}
    known = [*known, *(name for name in speakers if len(name.split()) == 1)]
    for s in sentences:
        names: list[str] = []
        text = s.text.strip()
        for m in _CAPITALISED.finditer(text):
            word = re.sub(rf"^{_TITLE}", "", m[0])
            if word in _NOT_NAMES or word.split("'")[0] in _NOT_NAMES:
                continue
            titled = word != m[0]
            personal = bool(
                _PERSON_AFTER.match(text, m.end()) or _PERSON_BEFORE.search(text[: m.start()])
            )
            given = word.removesuffix("'s") in _first_names()
            if re.search(r"\b(?:the|a|an)\s+$", text[: m.start()], re.I):
                continue  # "the Bill says": a thing
            if titled or personal or given:
                names.append(word.removesuffix("'s"))
        names += [k for k in known if re.search(rf"\b{re.escape(k)}\b", s.text, re.I)]
        names = list(dict.fromkeys(names))
        if names:
            found.append(Item(_clean(s.text), s.at, names=tuple(names), speaker=s.speaker))
    return found


# -- sections a profile declares -------------------------------------------------------------------


def matching(sentences: Iterable[Sentence], patterns: Sequence[re.Pattern]) -> list[Item]:
    """Sentences any of a profile's own patterns (trigger phrases or regexes) match."""
    return [
        Item(_clean(s.text), s.at) for s in sentences if any(p.search(s.text) for p in patterns)
    ]


# -- words of every talk ------------------------------------------------------------------

STOP_WORDS = frozenset(
    "a an the and or but so of to in on at for with by from is are was were be been it this that "
    "these those i you he she we they me him her us them my your our their its as if then than "
    "there here what which who whom when where why how not no yes do does did have has had will "
    "would can could should just very really also about into over okay ok um uh like".split()
)
