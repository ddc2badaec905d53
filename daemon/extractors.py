"""What a summary is made of, found in transcripts offline and deterministically.

Each extractor takes sentences (text and the time they were said) and returns `Item`s that
carry that time, so an export can point back into the transcript. They are rules over the
wording people use (and Whisper writes): cue phrases, a few sentence shapes, and refusals for
the near misses ("we haven't decided", "Alice will be away"). Their precision and recall are
measured on the labelled sentences in `tests/data/extractors/`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

__all__ = [
    "STOP_WORDS",
    "Sentence",
    "Item",
    "split_sentences",
    "action_items",
    "decisions",
    "questions",
    "definitions",
    "mentions",
    "matching",
    "highlights",
    "conversations",
    "due_date",
]


@dataclass(frozen=True)
class Sentence:
    text: str
    at: float  # when it was said, seconds since the epoch


@dataclass(frozen=True)
class Item:
    """Something found in a sentence, with the time it was said."""

    text: str
    at: float
    owner: str | None = None  # action items
    due: str | None = None  # action items: an ISO date
    term: str | None = None  # definitions
    names: tuple[str, ...] = field(default=())  # mentions


def split_sentences(text: str, at: float, duration: float = 0.0) -> list[Sentence]:
    """Sentences of a segment's text, each timed by where it starts within the segment."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])", text) if p.strip()]
    sentences, offset = [], 0
    for part in parts:
        share = offset / max(1, len(text))
        sentences.append(Sentence(part, at + duration * share))
        offset += len(part) + 1
    return sentences


def _clean(text: str) -> str:
    return text.strip().rstrip(".!").strip()


# -- action items -----------------------------------------------------------------------------

_LEAD = r"(?:(?:ok(?:ay)?|so|and|then|right|also|alright|great|good),?\s+)?"
_NAME = r"[A-Z][a-z]+(?:\s[A-Z][a-z]+)?"
_MODAL = (
    r"(?:will|'ll|is going to|are going to|am going to|'s going to|'re going to|'m going to|"
    r"needs? to|has to|have to|should|must|is to|are to)"
)
_NOT_ACTIONS = {
    "be", "been", "have", "probably", "never", "not", "always", "likely", "feel", "know",
    "think", "see", "like", "love", "want", "hate", "remember", "forget", "believe", "agree",
    "understand", "wonder", "guess", "hope", "enjoy", "miss", "get", "rain", "happen",
}  # fmt: skip
_ACTION_CUE = re.compile(r"^(?:action items?|to-?do|follow[- ]up)\s*[:,-]\s*(?P<rest>.+)$", re.I)
_PROMISE = re.compile(
    rf"^{_LEAD}(?P<owner>{_NAME}|I|we|We|you|You)\s*{_MODAL}\s+(?P<verb>[a-z]+)\b", re.I
)
_REQUEST = re.compile(
    rf"^{_LEAD}(?:(?P<owner>{_NAME}),\s+)?(?:can|could|would) you(?: please)?\s+(?P<verb>[a-z]+)\b",
    re.I,
)
_IMPERATIVE = re.compile(rf"^{_LEAD}(?:please|let's|let us)\s+(?P<verb>[a-z]+)\b", re.I)
_HYPOTHETICAL = re.compile(r"^(?:if|when|unless|maybe|perhaps|i wonder|do you think)\b", re.I)
_OWNER_WORDS = {"i": "me", "we": "we", "you": "you"}


def _owner(raw: str | None) -> str | None:
    if raw is None:
        return None
    return _OWNER_WORDS.get(raw.lower(), raw)


def action_items(sentences: Iterable[Sentence]) -> list[Item]:
    """Commitments and requests: "Alice will send the slides by Friday", "action item: ..."."""
    items = []
    for s in sentences:
        text = _clean(s.text)
        owner = None
        cue = _ACTION_CUE.match(text)
        if cue:
            promise = _PROMISE.match(cue["rest"])
            owner = _owner(promise["owner"]) if promise else None
        elif _HYPOTHETICAL.match(text) or text.endswith("?") and not _REQUEST.match(text):
            continue
        elif m := _PROMISE.match(text) or _REQUEST.match(text):
            if m["verb"].lower() in _NOT_ACTIONS or re.search(r"\bnot\b|n't\b", text[: m.end()]):
                continue
            owner = _owner(m["owner"]) if m["owner"] else ("you" if "you" in m[0] else None)
        elif m := _IMPERATIVE.match(text):
            if m["verb"].lower() in _NOT_ACTIONS:
                continue
            owner = "we" if re.match(rf"{_LEAD}let", text, re.I) else "you"
        else:
            continue
        items.append(Item(text.rstrip("?"), s.at, owner=owner, due=due_date(text, s.at)))
    return items


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


# -- decisions, questions -----------------------------------------------------------------------

_DECISION = re.compile(
    r"\b(?:we(?:'ve| have)? (?:all )?decided|(?:it's|it is|that's|that is) (?:been )?decided|"
    r"decision(?: is)?\s*[:,-]|the decision is|we (?:all )?agreed|(?:it's|it is|that's) agreed|"
    r"agreed\s*[:,-]|let's go with|we(?:'re| are) going (?:to go )?with|we(?:'ll| will) go with|"
    r"settled on|we(?:'ve| have)? chose|we(?:'ve| have) chosen|we(?:'re| are) choosing|we opted|"
    r"final decision|we(?:'re| are) (?:sticking|going ahead) with|the plan is)",
    re.I,
)
_UNDECIDED = re.compile(
    r"\b(?:not|n't|never|yet to|to decide|undecided|if we|whether|should we|did we|have we|"
    r"do we|once we|until we|before we)\b",
    re.I,
)


def decisions(sentences: Iterable[Sentence]) -> list[Item]:
    """What was settled: "we decided to ...", "let's go with ...", "agreed: ..."."""
    found = []
    for s in sentences:
        m = _DECISION.search(s.text)
        # the words up to just past the cue must not undo it ("we haven't decided yet")
        if m and not _UNDECIDED.search(s.text[: m.end() + 12]) and not s.text.endswith("?"):
            found.append(Item(_clean(s.text), s.at))
    return found


_WH_START = re.compile(
    r"^(?:who|what|when|where|why|how|which)\s+(?:is|are|was|were|do|does|did|will|would|can|"
    r"could|should|shall|has|have|had|about|many|much|long|often)\b",
    re.I,
)
_INDIRECT = re.compile(
    r"\b(?:i wonder (?:if|whether|why|how|what|when|who)|the (?:open |big |real )?question is|"
    r"open question|it's unclear (?:whether|if|why|how))\b",
    re.I,
)
_FILLER_QUESTION = re.compile(r"^(?:right|ok(?:ay)?|yeah|huh|you know|no|really|sorry)\?$", re.I)


def questions(sentences: Iterable[Sentence]) -> list[Item]:
    """Questions asked, and the open ones named as such ("I wonder whether ...")."""
    found = []
    for s in sentences:
        text = s.text.strip()
        if _FILLER_QUESTION.match(text):
            continue
        if text.endswith("?") or _WH_START.match(text) or _INDIRECT.search(text):
            found.append(Item(text.rstrip("."), s.at))
    return found


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
}  # fmt: skip
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Professor)\.? "
_CAPITALISED = re.compile(rf"\b(?:{_TITLE})?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?\b")
# A capitalised first word is a name only when what follows is what people do or have.
_NAME_FIRST = re.compile(
    r"(?:,|\s+(?:and|will|'ll|is|was|has|had|said|says|thinks|wrote|found|proposed|"
    r"presented|suggested|explained|asked|agreed|should|could|can|needs|did|does)\b)"
)


def mentions(sentences: Iterable[Sentence], *, known: Sequence[str] = ()) -> list[Item]:
    """People named: capitalised names (and the profile's vocabulary), with when they came up."""
    found = []
    for s in sentences:
        names: list[str] = []
        text = s.text.strip()
        for m in _CAPITALISED.finditer(text):
            word = re.sub(rf"^{_TITLE}", "", m[0])
            if word in _NOT_NAMES or word.split("'")[0] in _NOT_NAMES:
                continue
            possessive = word.endswith("'s")  # "Priya's paper"
            if m.start() == 0 and word == m[0] and not possessive:
                if not _NAME_FIRST.match(text, m.end()):
                    continue
            names.append(word.removesuffix("'s"))
        names += [k for k in known if re.search(rf"\b{re.escape(k)}\b", s.text, re.I)]
        names = list(dict.fromkeys(names))
        if names:
            found.append(Item(_clean(s.text), s.at, names=tuple(names)))
    return found


# -- sections a profile declares -------------------------------------------------------------------


def matching(sentences: Iterable[Sentence], patterns: Sequence[re.Pattern]) -> list[Item]:
    """Sentences any of a profile's own patterns (trigger phrases or regexes) match."""
    return [
        Item(_clean(s.text), s.at) for s in sentences if any(p.search(s.text) for p in patterns)
    ]


# -- highlights and conversations ------------------------------------------------------------------

STOP_WORDS = frozenset(
    "a an the and or but so of to in on at for with by from is are was were be been it this that "
    "these those i you he she we they me him her us them my your our their its as if then than "
    "there here what which who whom when where why how not no yes do does did have has had will "
    "would can could should just very really also about into over okay ok um uh like".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP_WORDS and len(w) > 2}


def highlights(sentences: Sequence[Sentence], count: int = 5) -> list[Item]:
    """The most central sentences (TextRank over shared content words), in time order."""
    words = [_content_words(s.text) for s in sentences]
    n = len(sentences)
    if n == 0:
        return []
    weights = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            shared = len(words[i] & words[j])
            if shared and len(words[i]) > 1 and len(words[j]) > 1:
                w = shared / (math.log(len(words[i])) + math.log(len(words[j])))
                weights[i][j] = weights[j][i] = w
    totals = [sum(row) for row in weights]
    scores = [1.0] * n
    for _ in range(30):
        scores = [
            0.15 + 0.85 * sum(weights[j][i] / totals[j] * scores[j] for j in range(n) if totals[j])
            for i in range(n)
        ]
    ranked = sorted(range(n), key=lambda i: (-scores[i], i))
    chosen = sorted(i for i in ranked[:count] if len(words[i]) >= 3) or sorted(ranked[:count])
    return [Item(_clean(sentences[i].text), sentences[i].at) for i in chosen]


def conversations(sentences: Sequence[Sentence], *, gap_s: float = 300.0) -> list[list[Sentence]]:
    """Sentences grouped into conversations, split wherever speech paused for `gap_s`."""
    groups: list[list[Sentence]] = []
    for s in sorted(sentences, key=lambda s: s.at):
        if not groups or s.at - groups[-1][-1].at > gap_s:
            groups.append([])
        groups[-1].append(s)
    return groups
