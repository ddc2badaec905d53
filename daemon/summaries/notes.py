"""Notes of real conversation: an overview, decisions, action items and open questions.

Speech is not prose: it is disfluent, a decision is reached across turns ("so, rubber then?"
"yeah, let's go with rubber"), most "I'll ..." is talk about the meeting itself, and who said a
thing matters. So each finder looks at a sentence with the turns around it and its speaker:

- **Action items**: a commitment or an assignment of a concrete task ("I'll send you the
  figures", "Marketing will look at the requirements", "could you e-mail me the slides?"), not
  talk that runs the meeting ("I'll show the next slide", "let's move on"), nor a hedge or a
  prediction. The owner is the speaker for "I", the person or role named, or the one who answers
  a request addressed to "you"; the due date is the one said.
- **Decisions**: a settling statement ("so we'll go with ...", "we decided ...", "that's out"),
  not hedged or asked; ranked by how much the conversation turns on it.
- **Open questions**: substantive questions about the matter at hand, not tags ("right?"),
  running the meeting ("can you see the screen?") or a word asked again.
- **Overview**: a line naming what the conversation was about, then its most telling
  sentences, picked across the conversation.

Ranking uses two small linear models fitted on the development meetings (real meetings with the
notes people wrote for them; `bench/fit_notes.py` fits them and writes `notes_model.py`). Their
words are everyday conversational words, never a meeting's topic words, so they carry over to any
subject. Everything here runs offline, is deterministic and linear in the length of the talk.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from daemon.summaries import notes_model
from daemon.summaries.extractors import STOP_WORDS, Item, Sentence, due_date

__all__ = [
    "Talk",
    "overview",
    "decisions",
    "action_items",
    "questions",
    "is_action_item",
    "is_decision",
    "is_open_question",
    "tidy",
    "telling",
    "item_of",
    "topics",
]

_TOKEN = re.compile(r"[a-z][a-z'-]*")
_FILLERS = frozenset(
    "yeah yes okay ok so um uh mm right well oh like just know mean think gonna actually really "
    "sort kind thing things something anyway maybe i'm it's that's don't we're you're they're "
    "there's what's".split()
)
_COMMON = STOP_WORDS | _FILLERS
_WINDOW_WORDS = 40  # a decision is read with what follows it, up to this many words


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# -- the talk, prepared once ---------------------------------------------------------------------


@dataclass
class Talk:
    """A conversation's sentences with what every finder needs, computed once."""

    sentences: list[Sentence]
    tokens: list[list[str]]
    content: list[set[str]]
    frequency: Counter  # in how many sentences each content word occurs
    weight: dict[str, float]  # log(1 + frequency): how central each content word is
    top: frozenset[str]
    share: dict[str | None, float]  # each speaker's share of the words
    counts: list[tuple[int, int, int]]  # per sentence: words said twice in a row, fillers, topical
    _speakers: dict[str, str] | None = None
    _speaker_words: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, sentences: Sequence[Sentence]) -> Talk:
        sentences = list(sentences)
        tokens = [_tokens(s.text) for s in sentences]
        content = [{w for w in t if w not in _COMMON and len(w) > 2} for t in tokens]
        counts = [_counts(t) for t in tokens]
        frequency: Counter = Counter()
        for words in content:
            frequency.update(words)
        spoken: Counter = Counter()
        for s, t in zip(sentences, tokens, strict=True):
            spoken[s.speaker] += len(t)
        total = sum(spoken.values()) or 1
        return cls(
            sentences=sentences,
            tokens=tokens,
            content=content,
            frequency=frequency,
            weight={w: math.log(1 + n) for w, n in frequency.items()},
            top=frozenset(sorted(frequency, key=lambda w: (-frequency[w], w))[:30]),
            share={speaker: n / total for speaker, n in spoken.items()},
            counts=counts,
        )

    def __len__(self) -> int:
        return len(self.sentences)

    def window_tokens(self, i: int) -> list[str]:
        """The words of sentence i and what follows it, up to `_WINDOW_WORDS`."""
        words: list[str] = []
        for tokens in self.tokens[i:]:
            words += tokens
            if len(words) >= _WINDOW_WORDS:
                break
        return words[:_WINDOW_WORDS]

    def by_speaker(self, text: str) -> re.Match | None:
        """A task given to someone who speaks in this talk, by name in any case ("marketing
        will look at the requirements")."""
        self._know_speakers()
        if self._speaker_words.isdisjoint(_tokens(text)):
            return None  # no speaker named at all
        return next((m for m in _TASK_GIVEN.finditer(text) if self.speaker_named(m["who"])), None)

    def speaker_named(self, words: str) -> str | None:
        """The speaker these words end with, by name in any case ("so marketing" -> Marketing)."""
        self._know_speakers()
        said = words.lower().split()
        return next(
            (
                self._speakers[n]
                for k in range(len(said))
                if (n := " ".join(said[k:])) in self._speakers
            ),
            None,
        )

    def _know_speakers(self) -> None:
        if self._speakers is None:
            self._speakers = {s.speaker.lower(): s.speaker for s in self.sentences if s.speaker}
            self._speaker_words = {w for name in self._speakers for w in name.split()}

    def replies(self, i: int, count: int = 3) -> list[Sentence]:
        """The first sentences other speakers say after sentence i."""
        said = self.sentences[i].speaker
        return [s for s in self.sentences[i + 1 : i + 1 + count * 3] if s.speaker != said][:count]


# -- the models' features ------------------------------------------------------------------------


def features(talk: Talk, i: int, *, passage: bool = False) -> tuple[list[float], set[str]]:
    """Sentence i's numeric features and its everyday words; with `passage`, those of sentence i
    read with what follows it (`Talk.window`)."""
    if passage:
        tokens = talk.window_tokens(i)
        content = {w for w in tokens if w not in _COMMON and len(w) > 2}
    else:
        tokens, content = talk.tokens[i], talk.content[i]
    length = max(1, len(tokens))
    weights = [talk.weight.get(w, 0.0) for w in content]
    repeats, fillers, topical = _counts(tokens) if passage else talk.counts[i]
    position = i / max(1, len(talk))
    numbers = [
        math.log(length),
        float(length < 8),
        float(length > 50),
        math.fsum(weights) / len(weights) if weights else 0.0,
        math.fsum(weights) / length**0.5,
        len(content & talk.top) / max(1, len(content)),
        position,
        float(position < 0.1),
        float(position > 0.9),
        talk.share.get(talk.sentences[i].speaker, 0.0),
        float(talk.sentences[i].text.rstrip().endswith("?")),
        repeats / length,
        fillers / length,
        tokens.count("we") / length,
        tokens.count("i") / length,
        tokens.count("you") / length,
        topical / length,
        sum(talk.frequency[w] == 1 for w in content) / max(1, len(content)),
    ]
    return numbers, set(tokens) & notes_model.EVERYDAY


def _counts(tokens: list[str]) -> tuple[int, int, int]:
    """Words said twice in a row, fillers, and topical words among `tokens`."""
    repeats = fillers = topical = 0
    before = None
    for w in tokens:
        repeats += w == before
        fillers += w in _FILLERS
        topical += w not in _COMMON and len(w) > 2
        before = w
    return repeats, fillers, topical


def _score(model: notes_model.Linear, numbers: list[float], words: set[str]) -> float:
    # fsum: exact whatever the order of the set, so the same talk always gives the same notes
    weights = model.words
    return math.fsum(
        [model.constant, *map(operator.mul, numbers, model.numbers)]
        + [weights[w] for w in words & weights.keys()]
    )


def _distinct(
    talk: Talk, ranked: Sequence[int], overlap: float, *, limit: int = 0, words: int = 0
) -> list[int]:
    """The best of `ranked` that do not repeat one already taken, until `limit` are taken or
    they add up to `words` words; in time order."""
    chosen: list[int] = []
    said = 0
    for i in ranked:
        content = talk.content[i]
        if any(len(content & talk.content[j]) > overlap * max(1, len(content)) for j in chosen):
            continue
        chosen.append(i)
        said += len(talk.tokens[i])
        if (limit and len(chosen) >= limit) or (words and said >= words):
            break
    return sorted(chosen)


def item_of(talk: Talk, i: int, text: str | None = None, **extra) -> Item:
    """Sentence i (or `text`, said then) as a note, tidied, with its time and speaker."""
    s = talk.sentences[i]
    return Item(tidy(text or s.text), s.at, speaker=s.speaker, **extra)


def telling(talk: Talk) -> list[float]:
    """How much each sentence tells of what the talk was about (the overview's model); a
    sentence of fewer than six words tells nothing on its own."""
    return [
        _score(notes_model.OVERVIEW, *features(talk, i)) if len(t) >= _TELLING_WORDS else -math.inf
        for i, t in enumerate(talk.tokens)
    ]


# -- tidying what was said ------------------------------------------------------------------------

_FILLER_PHRASES = re.compile(r"\b(?:you know|i mean|sort of|kind of)\b,?\s*", re.I)
_OPENERS = re.compile(
    r"^(?:(?:and|but|so|well|okay|ok|yeah|yes|right|um|uh|oh|alright|now|anyway|also)\b[,.]?\s+)+",
    re.I,
)


_CUT_OFF = re.compile(r"(?<!\S)(\w{1,6})\s+(?=\1\w)", re.I)
_SAID_AGAIN = re.compile(r"\b(\w+(?:'\w+)?)(?:,?\s+\1\b)+", re.I)
_PAIR_SAID_AGAIN = re.compile(r"\b(\w+ \w+)(?:,?\s+\1\b)+", re.I)


def _stumbles(text: str) -> bool:
    """Whether `tidy` would take more than the opening words and the full stop off `text`."""
    words = re.findall(r"[\w']+", text.lower())
    return bool(_FILLER_PHRASES.search(text) or _OPENERS.match(text)) or _said_twice(words)


def _said_twice(words: list[str]) -> bool:
    return any(b.startswith(a) for a, b in zip(words, words[1:], strict=False)) or any(
        words[k : k + 2] == words[k + 2 : k + 4] for k in range(len(words) - 3)
    )


def tidy(text: str) -> str:
    """What was said, without its stumbles: words said twice ("we we will"), a word cut off and
    said again ("th the"), fillers ("you know") and openers ("okay so")."""
    t = _FILLER_PHRASES.sub("", text)
    if _said_twice(re.findall(r"[\w']+", t.lower())):  # the rest: only for a word said twice
        t = _CUT_OFF.sub("", t)
        for _ in range(2):
            t = _PAIR_SAID_AGAIN.sub(r"\1", _SAID_AGAIN.sub(r"\1", t))
    t = re.sub(r"\s+([,.?!])", r"\1", re.sub(r",\s*,", ",", re.sub(r"\s{2,}", " ", t)))
    t = _OPENERS.sub("", t.strip(" ,")).strip(" ,")
    t = t.rstrip(".!").strip() if t.endswith((".", "!")) else t
    return (t[:1].upper() + t[1:]) if t else text.strip()


# -- overview -------------------------------------------------------------------------------------

_OVERVIEW_WORDS = 110  # what the overview's sentences add up to, about a paragraph
_TELLING_WORDS = 6


def topics(talk: Talk, count: int = 16) -> list[str]:
    """What the talk was about: its most frequent words and word pairs that are not everyday
    words, most frequent first."""
    singles: Counter = Counter()
    pairs: Counter = Counter()
    topical = {w: _topical(w) for w in talk.frequency}  # only content words can be topical
    for tokens in talk.tokens:
        marked = [topical.get(w, False) for w in tokens]
        for k in range(len(tokens) - 1):
            if marked[k] and marked[k + 1] and tokens[k] != tokens[k + 1]:
                pairs[f"{tokens[k]} {tokens[k + 1]}"] += 1
        singles.update(w for w, m in zip(tokens, marked, strict=True) if m)
    ranked = sorted(
        [(n * 1.5, p) for p, n in pairs.items() if n >= 3]
        + [(float(n), w) for w, n in singles.items() if n >= 3],
        key=lambda c: (-c[0], c[1]),
    )
    found: list[str] = []
    used: set[str] = set()
    for _, phrase in ranked:
        words = set(phrase.split())
        if words & used:
            continue
        found.append(phrase)
        used |= words
        if len(found) >= count:
            break
    return found


def _topical(word: str) -> bool:
    return len(word) > 2 and word not in _COMMON and word not in notes_model.EVERYDAY


def overview(sentences: Sequence[Sentence], *, about: str = "conversation") -> list[Item]:
    """What the talk was about, then its most telling sentences, in time order."""
    talk = sentences if isinstance(sentences, Talk) else Talk.of(sentences)
    if not len(talk):
        return []
    items = []
    named = topics(talk)
    if named:
        listed = ", ".join(named[:-1]) + (f" and {named[-1]}" if len(named) > 1 else named[0])
        first = talk.sentences[0]
        items.append(Item(f"The {about} was about {listed}.", first.at))
    scores = telling(talk)
    ranked = sorted(
        (i for i in range(len(talk)) if len(talk.tokens[i]) >= _TELLING_WORDS),
        key=lambda i: -scores[i],
    )
    picked = _distinct(talk, ranked, 0.5, words=_OVERVIEW_WORDS)
    return items + [item_of(talk, i) for i in picked]


# -- decisions ------------------------------------------------------------------------------------

# said as settled: enough on its own
_CHOICE = r"(?:use|have(?! to)|take|keep|make|skip|scrap|drop|lose|remove|include|develop|build)"
_CHOOSING = (
    r"(?:using|having|taking|keeping|making|skipping|scrapping|dropping|losing|removing|"
    r"including|developing|building)"
)
_SETTLED = re.compile(
    r"\b(?:(?:we|we've|we have|it's|it is|that's|that is|was|been) (?:all )?(?:decided|agreed)|"
    r"(?:go|going|goes|went) (?:with|for)|stick(?:ing)? with|get(?:ting)? rid of|settled|"
    r"chose|chosen|opt(?:ed)? for|final decision|the decision is|"
    rf"we(?:'ll| will| shall) {_CHOICE}|we(?:'re| are) (?:going to|gonna) {_CHOICE}|"
    rf"we(?:'re| are) {_CHOOSING}|we (?:skip|scrap|drop|lose|keep)|"
    rf"let's (?:go with|go for|{_CHOICE}|stick|say|agree)|(?:is|are) out\b(?! of)|"
    r"so we(?:'ll| will)|agreed|i like (?:that|this|the) idea)\b",
    re.I,
)
# said as a proposal: settled only when another speaker agrees next
_PROPOSED = re.compile(
    r"\b(?:let's|let us|we should|it should|should be|has to be|needs to be|we(?:'ll| will)|"
    r"we(?:'re| are) (?:going|gonna))\b",
    re.I,
)
_UNSETTLED = re.compile(
    r"\b(?:maybe|perhaps|might|whether|if (?:we|you)|not sure|don't know|i wonder|could we|"
    r"should we|do we|shall we|haven't decided|not decided|undecided|yet to decide|"
    r"under review|keep reviewing|(?:going|gonna) to have to|(?:a|short) break|"
    r"(?:the )?question is|i think|i guess|probably|one of these)\b|\?\s*$",
    re.I,
)


# a cheap first look: words without which nothing is said as settled
_SETTLING_WORDS = frozenset(
    "decided agreed go going goes went stick sticking rid settled chose chosen opt opted "
    "decision out idea let's".split()
)
_WE = frozenset("we we'll we're we've".split())
_CHOOSING_WORDS = frozenset(
    "so use have take keep make skip scrap drop lose remove include develop build using having "
    "taking keeping making skipping scrapping dropping losing removing including developing "
    "building".split()
)


def is_decision(talk: Talk, i: int) -> bool:
    """Whether sentence i settles something: said as settled, or proposed and agreed to by the
    next speaker; never hedged or asked, nor about running the meeting."""
    tokens, text = talk.tokens[i], talk.sentences[i].text
    if len(tokens) < 4:
        return False
    may_be_settled = not _SETTLING_WORDS.isdisjoint(tokens) or (
        not _WE.isdisjoint(tokens) and not _CHOOSING_WORDS.isdisjoint(tokens)
    )
    said = (may_be_settled and bool(_SETTLED.search(text))) or (
        _agreed(talk, i) and bool(_PROPOSED.search(text))
    )
    return said and not _UNSETTLED.search(text) and not _RIGHT_NOW.search(text)


def _agreed(talk: Talk, i: int) -> bool:
    answer = next(iter(talk.replies(i, 1)), None)
    return answer is not None and bool(_AGREEMENT.match(answer.text.strip()))


def decisions(sentences: Sequence[Sentence], *, limit: int | None = None) -> list[Item]:
    """What the conversation settled, the decisions it turns on most first chosen, in time order.
    Each item is the settling sentence read with what follows it (who agreed, what it means)."""
    talk = sentences if isinstance(sentences, Talk) else Talk.of(sentences)
    limit = limit if limit is not None else _limit(talk, most=10)
    scores = {
        i: _score(notes_model.DECISION, *features(talk, i, passage=True))
        for i in range(len(talk))
        if is_decision(talk, i)
    }
    ranked = sorted(scores, key=lambda i: -scores[i])
    return [_decision_item(talk, i) for i in _distinct(talk, ranked, 0.4, limit=limit)]


_POINTING = re.compile(r"\b(?:that|this|it|them|those|these|one)\b", re.I)


def _decision_item(talk: Talk, i: int) -> Item:
    """The settling sentence; a short one that points back ("yeah, let's do that") with the
    proposal it settles before it; and who said yes next."""
    said = talk.sentences[i]
    text = tidy(said.text)
    if len(talk.tokens[i]) < 12 and _POINTING.search(said.text):
        before = [s for s in talk.sentences[max(0, i - 3) : i] if s.speaker != said.speaker]
        if before:
            text = f"{tidy(before[-1].text)} — {text}"
    agreed = [r.speaker for r in talk.replies(i, 2) if r.speaker and _AGREEMENT.match(r.text)]
    return Item(text, said.at, speaker=said.speaker, agreed_by=tuple(dict.fromkeys(agreed)))


_AGREEMENT = re.compile(
    r"^(?:yeah|yes|yep|okay|ok|sure|agreed|fine|right|exactly|good|great|sounds good|"
    r"alright|definitely|absolutely|mm-hmm|uh-huh|true)\b",
    re.I,
)


def _limit(talk: Talk, *, most: int) -> int:
    """How many items a talk of this length warrants: three, and one more per 500 words beyond
    the first 1,000, up to `most`."""
    words = sum(len(t) for t in talk.tokens)
    return max(3, min(most, words // 500 + 1))


# -- action items ---------------------------------------------------------------------------------

_VERBS = (
    "send e-mail email mail write prepare draft check look find make put update talk speak ask "
    "get bring do work circulate forward share finish fix try test read book organise organize "
    "set sort follow contact call schedule arrange investigate research design build implement "
    "come figure present report review compile collect run install order buy phone ring "
    "redo rerun change add remove decide discuss produce create develop specify explore compare "
    "summarise summarize post upload document note go take give keep copy tell inform interact "
    "coordinate print plan show help meet join pay visit confirm approve sign submit ship "
    "deliver clean measure record transcribe train label evaluate"
).split()


def _forms(verb: str) -> str:
    """A verb with its -s and -ing forms ("send", "sends", "sending"), as a regular expression."""
    stem = verb[:-1] if verb.endswith("e") else verb
    if re.fullmatch(r"[a-z]*[^aeiou][aeiou][bdgmnprt]", verb):
        stem = verb + verb[-1]  # "put" -> "putting"
    return f"(?:{verb}|{verb}e?s|{stem}ing)"


# every form of those verbs, for a cheap first look: no task without one of them
_TASK_WORDS = frozenset(
    form for v in _VERBS for form in re.findall(r"[a-z-]+", _forms(v).replace("e?s", "s|es"))
) | {"e-mail", "e-mails", "e-mailing"}
# a task: a verb (said plainly or as "working on"), with the particle some verbs take
_TASK = (
    r"(?:(?:be )?(?:"
    + "|".join(_forms(v) for v in _VERBS)
    + r")(?: (?:at|into|up|out|on|over|through|to|with|about|together|away))?)"
)
_SELF = (
    r"(?:i(?:'ll| will| shall)|i(?:'m| am) (?:going to|gonna)|i'd be happy to|"
    r"i (?:have|need) to|i've got to|i should|i must|i'd (?:have|need) to)"
)
_OTHER = (
    r"(?:you(?: two| both| all| guys)?(?:'ll| will)|you(?: two| both| all| guys)?(?:'re| are) "
    r"(?:going to|gonna)|you (?:need|have|ought) to|you should|you must)"
)
_TEAM = r"(?:we(?:'ll| will)|we(?:'re| are) (?:going to|gonna)|we (?:need|have) to|we should)"
_GIVEN = r"(?:will|'ll|(?:is|are) going to|(?:is|are) gonna|needs? to|has to|should)"
_NAMED = r"(?P<who>(?-i:(?:[Tt]he )?[A-Z][\w'-]*(?: [A-Z][\w'-]*){0,2}))"  # a name or a role
_COMMITMENT = re.compile(
    rf"\b(?P<subject>{_SELF}|{_OTHER}|{_TEAM}|{_NAMED} (?:{_GIVEN}|have to))\s+"
    rf"(?:(?:also|just|then|definitely|actually|really|first|try to|have to|be able to|\w+ly)\s+)*"
    rf"(?P<task>{_TASK})\b(?P<rest>.*)$",
    re.I,
)
_REQUEST = re.compile(
    rf"\b(?:can|could|would|will) you(?: all| guys| two)?(?: please)?\s+(?P<task>{_TASK})\b"
    r"(?P<rest>.*)$",
    re.I,
)
# a task given to anyone by name, any case (`Talk.by_speaker` keeps those who speak)
_TASK_GIVEN = re.compile(
    rf"\b(?P<subject>(?:the )?(?P<who>[\w'-]+(?: [\w'-]+){{0,2}}) {_GIVEN})\s+(?:\w+ly\s+)?"
    rf"(?P<task>{_TASK})\b(?P<rest>.*)$",
    re.I,
)
_ASSIGNMENT = re.compile(r"^(?:action item|to-?do|follow[- ]up)s?\s*[:,-]\s*(?P<rest>.+)$", re.I)
# running the meeting itself, right now: "I'll show you the next slide", "let me start"
_PRESENTING = re.compile(
    r"^(?:show|present|explain|introduce|go|start|begin|draw|read|pass|wait|hand|take|stop|"
    r"skip|move|open|close|note|summari[sz]e|talk|run)\b",
    re.I,
)
_RIGHT_NOW = re.compile(
    r"\b(?:now|right now|here|again|in a (?:minute|second|moment)|quickly|slide|slides|"
    r"agenda|board|whiteboard|screen|pen|mic|microphone|this meeting|today|questionnaire|"
    r"digits|to a close|wrap up|the question|you the question)\b",
    re.I,
)
# "what you'll get out of this", "when you have to work on your own": a clause, not a task
_CLAUSE = re.compile(
    r"\b(?:(?:what|which|who|where|when|how|whatever)(?:\s+\S+){0,3}|that|once)\s*$", re.I
)
_LATER = re.compile(
    r"\b(?:next (?:meeting|time|week|month)|after the meeting|later|tomorrow|by (?:the )?\w+|"
    r"before (?:the )?\w+|this (?:week|afternoon|evening)|tonight|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|e-?mail|send|offline|get back|come back)\b",
    re.I,
)
_NOT_A_TASK = re.compile(
    r"\b(?:if|whether|unless|maybe|perhaps|might|hope|hopefully|wish|i guess|i suppose|would|"
    r"wouldn't|won't|not|never)\b",
    re.I,
)
# putting a thing off is no task: "we'll talk about that later", "we'll cross that bridge"
_DEFERRED = re.compile(
    r"\b(?:(?:talk|discuss|decide|think|worry|deal|see|tell|ask)\b[^.?!]{0,30}\blater|"
    r"get (?:back )?to (?:that|it|this) later|cross that bridge|we'll see)\b",
    re.I,
)
# a habit or a prediction is no task: "you have to make separate queries every time",
# "I think you will find that ..."
_NOT_ONCE = re.compile(
    r"\b(?:every time|each time|always|usually|whenever|in general)\b|^(?:find|see|notice|"
    r"realise|realize)s? that\b",
    re.I,
)
# being sent something is no task: "you'll get your instructions by e-mail"
_RECEIVING = re.compile(
    r"^(?:get|gets|getting|receive|receiving|be sent|be given)\b.{0,25}\b(?:message|e-?mails?|"
    r"mails?|instructions|specifications|notes?|transcripts?|minutes|information|feedback|"
    r"answers?|results?)\b",
    re.I,
)
_VOCATIVE = re.compile(r"^(?-i:([A-Z][\w'-]*(?: [A-Z][\w'-]*)?)),\s")
_PLAIN_NAME_WORDS = {
    "The", "This", "That", "These", "Those", "It", "He", "She", "They", "There", "What", "So",
    "Which", "Who", "We", "You", "I", "One", "Nobody", "Everybody", "Everyone", "Someone",
    "Somebody", "Anyone", "Anybody", "Something", "Everything", "Anything", "Nothing", "And",
    "But", "Then", "Now", "Well", "Okay", "Yeah", "Also",
}  # fmt: skip


_MODALS = frozenset(
    "will going gonna need needs have has got should must happy can could would let".split()
)


def _task_after_modal(tokens: list[str]) -> bool:
    """A cheap first look: a task verb within six words after a modal ("I'll", "need to",
    "could you")."""
    for k, w in enumerate(tokens):
        if w in _MODALS or w.endswith("'ll"):
            if not _TASK_WORDS.isdisjoint(tokens[k + 1 : k + 7]):
                return True
    return False


# words without one of which no sentence is a commitment or an assignment (a cheap first look)
_MAY_COMMIT = frozenset(
    "will i'll we'll you'll he'll she'll they'll going gonna need needs have has got should must "
    "happy can could would action to-do todo follow follow-up followup".split()
)


def is_action_item(talk: Talk, i: int) -> Item | None:
    """Sentence i as an action item with its owner and due date, or None."""
    tokens = talk.tokens[i]
    if _MAY_COMMIT.isdisjoint(tokens) and not any(t.endswith("'ll") for t in tokens):
        return None
    s = talk.sentences[i]
    if not _task_after_modal(tokens) and not _ASSIGNMENT.match(s.text.strip()):
        return None  # no task verb said shortly after a "will", "need to", "could you"...
    text = tidy(s.text) if _stumbles(s.text) else s.text.strip()
    assigned = _ASSIGNMENT.match(text)
    if assigned:
        text = assigned["rest"]
    m = _COMMITMENT.search(text) or _REQUEST.search(text) or talk.by_speaker(text)
    named = _named(talk, m) or "" if m is not None else ""
    if named.split(" ")[0] in _PLAIN_NAME_WORDS:
        m = None  # "Nobody will probably get this", "That will be": no one named
    if m is None:
        return item_of(talk, i, owner=None, due=due_date(s.text, s.at)) if assigned else None
    if not assigned:
        subject = "" if m.re is _TASK_GIVEN else (m.groupdict().get("subject") or "").lower()
        lead = " ".join(text[: m.start()].split()[-8:])  # the words just before the promise
        said_before = f"{lead} {subject}"
        if _NOT_A_TASK.search(said_before) or _CLAUSE.search(text[: m.start()]):
            return None  # "if we had time we'll ...", "maybe I'll ...", "what you'll get"
        if re.match(r"\s*(?:is|was|are)\b", m["rest"]):
            return None  # "what I need to do is ...": a description
        if (
            "?" in s.text or re.search(r"\b(?:are|will|do|did) you\b", text[: m.start()], re.I)
        ) and (m.re is not _REQUEST):
            return None  # asked, not promised: "will you be doing it by hand?"
        task = f"{m['task']}{m['rest']}".strip()
        if _DEFERRED.search(text) or _RECEIVING.match(task) or _NOT_ONCE.search(task):
            return None
        if not _LATER.search(text):
            if len(m["rest"].split()) < 2 or _RIGHT_NOW.search(m["rest"]):
                return None  # "I'll check": no task named; "I'll show you the next slide"
            if (m.re is _REQUEST or subject.startswith("you")) and not _taken(talk, i):
                return None  # "you have to keep that side flat": anyone, unless someone says yes
            if subject.startswith("we"):
                return None  # "we have to make it trendy": a wish until someone is named
            if _PRESENTING.match(m["task"]) and subject.startswith("i"):
                return None  # "I'll show ...", "I'm going to present ...": what happens now
    return item_of(talk, i, owner=_owner(talk, i, m), due=due_date(s.text, s.at))


def _named(talk: Talk, m: re.Match) -> str | None:
    """Who a task was given to by name: a speaker of the talk, or the name said ("the Marketing
    Expert" -> Marketing Expert)."""
    who = m.groupdict().get("who")
    if not who:
        return None
    return talk.speaker_named(who) or who.removeprefix("the ").removeprefix("The ")


def _taken(talk: Talk, i: int) -> bool:
    """Whether a task said to "you" is someone's: they are named, or answer yes."""
    said = talk.sentences[i].text.strip()
    named = _VOCATIVE.match(said)
    return bool(named and named[1] not in _PLAIN_NAME_WORDS) or _agreed(talk, i)


def _owner(talk: Talk, i: int, m: re.Match) -> str | None:
    if m.re is _TASK_GIVEN:
        return _named(talk, m)
    said = talk.sentences[i]
    subject = (m.groupdict().get("subject") or "").lower()
    addressed = _VOCATIVE.match(said.text.strip())
    if (
        addressed
        and addressed[1] not in _PLAIN_NAME_WORDS
        and (m.re is _REQUEST or subject.startswith("you"))
    ):
        return addressed[1]  # "Carol, can you update the mockups?"
    if m.re is _REQUEST or subject.startswith("you"):
        answer = next(iter(talk.replies(i, 1)), None)
        if answer is not None and answer.speaker and _AGREEMENT.match(answer.text.strip()):
            return answer.speaker
        return "you"
    if subject.startswith(("i", "let me")):
        return said.speaker or "me"
    if subject.startswith("we"):
        return "we"
    return _named(talk, m)


def action_items(sentences: Sequence[Sentence], *, limit: int | None = None) -> list[Item]:
    """Commitments and assignments, the likeliest first chosen, in time order."""
    talk = sentences if isinstance(sentences, Talk) else Talk.of(sentences)
    limit = limit if limit is not None else _limit(talk, most=8)
    found = {i: item for i in range(len(talk)) if (item := is_action_item(talk, i))}
    sure = {i: _certainty(talk, i, item) for i, item in found.items()}
    ranked = sorted((i for i in found if sure[i] >= _SURE_ENOUGH), key=lambda i: -sure[i])
    return [found[i] for i in _distinct(talk, ranked, 0.6, limit=limit)]


_SURE_ENOUGH = 2.0  # a task said as one and no more is too often talk; a second sign is needed


def _certainty(talk: Talk, i: int, item: Item) -> float:
    """How surely an action item is one: a due date, a time after the meeting, someone named
    (not "we" or "you"), someone asked by name ("Carol, can you ..."), said as the meeting ends,
    or said as an action item."""
    text = talk.sentences[i].text
    addressed = _VOCATIVE.match(text.strip())
    return (
        1.0 * bool(addressed and addressed[1] == item.owner)
        + 2.0 * bool(item.due)
        + 1.5 * bool(_LATER.search(text))
        + 1.0 * (item.owner not in (None, "we", "you"))
        + 1.0 * (i / max(1, len(talk)) > 0.75)
        + 2.0 * bool(_ASSIGNMENT.match(text.strip()))
    )


# -- open questions -------------------------------------------------------------------------------

_ASKING = re.compile(
    r"^(?:(?:and|but|so|okay|well|yeah|now)[, ]+)*(?:who|what|when|where|why|how|which|is|are|"
    r"was|were|do|does|did|can|could|should|shall|will|would|have|has)\b",
    re.I,
)
_OPEN_MARK = re.compile(
    r"\b(?:the (?:open |big |real |main )?question is|open question|i wonder (?:if|whether|why|"
    r"how|what)|it's unclear (?:whether|if|why|how)|we (?:still )?(?:need|have) to (?:decide|"
    r"figure out|find out) (?:whether|if|how|what|which|who|when))\b",
    re.I,
)
_MAY_BE_OPEN = frozenset("question wonder unclear decide figure find".split())
# a question Whisper wrote without its mark ("Who will pay for the new computers."): a question
# word and then a verb that asks, which a statement ("What we need is ...") never has
_ASKED_WITHOUT_MARK = re.compile(
    r"^(?:who|what|when|where|why|how|which)\s+(?:will|would|should|shall|can|could|do|does|"
    r"did|is|are|was|were|has|have)\b[^?]*\.$",
    re.I,
)
_ABOUT_THE_MEETING = re.compile(
    r"\b(?:can (?:you|everyone|everybody)(?: all)? (?:see|hear|read)|shall i|"
    r"should i (?:go|start)|who(?:'s| is) next|"
    r"(?:next|this) slide|where(?:'s| is) the|is (?:it|this) on|am i|did i|what time|"
    r"sorry|pardon|say (?:that )?again|what was that|next meeting|cord|folder|erase|"
    r"how late|can i ask|have you got a supplementary|any (?:other )?(?:questions|comments)|"
    r"(?:are|is) (?:members|everyone|everybody) happy)\b",
    re.I,
)


_TAG = re.compile(
    r"(?:,|\b)\s*(?:right|okay|ok|yeah|huh|or|no|isn't it|is it|wasn't it|aren't they|"
    r"don't you|didn't (?:they|you|we)|haven't you|hasn't it|did you say|you know|"
    r"do you see what i'm saying)\?$",
    re.I,
)


def _last_clause(text: str) -> str:
    """'We need evidence, so when will it be evaluated?' -> 'so when will it be evaluated?'"""
    return re.split(r"[,.;:\u2014]\s+|\s+-\s+", text)[-1]


def is_open_question(talk: Talk, i: int) -> bool:
    """Whether sentence i raises a question about the matter at hand: asked as a question (not
    a tag, nor a statement said with a rising voice) or named as open."""
    text = talk.sentences[i].text.strip()
    if not _MAY_BE_OPEN.isdisjoint(talk.tokens[i]) and _OPEN_MARK.search(text):
        return True
    asked = text.endswith("?") and _ASKING.match(_last_clause(text))
    if not (asked or _ASKED_WITHOUT_MARK.match(text)) or _TAG.search(text):
        return False
    if _REQUEST.search(text):
        return False  # "can you update the mockups?" asks for a task, not an answer
    topical = [w for w in talk.tokens[i] if w not in _COMMON and len(w) > 2]
    return len(talk.tokens[i]) >= 3 and len(topical) >= 1 and not _ABOUT_THE_MEETING.search(text)


def questions(sentences: Sequence[Sentence], *, limit: int | None = None) -> list[Item]:
    """The questions the talk raised, those it turns on most first chosen, in time order."""
    talk = sentences if isinstance(sentences, Talk) else Talk.of(sentences)
    limit = limit if limit is not None else _limit(talk, most=8)
    asked = [i for i in range(len(talk)) if is_open_question(talk, i)]
    scores = {i: _score(notes_model.OVERVIEW, *features(talk, i)) for i in asked}
    ranked = sorted(asked, key=lambda i: -scores[i])
    return [item_of(talk, i) for i in _distinct(talk, ranked, 0.5, limit=limit)]
