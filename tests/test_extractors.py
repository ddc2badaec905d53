"""The sentence extractors: definitions, the people mentioned, due dates, sentences.

The people mentioned are measured on sentences of the development meetings (real meetings
transcribed by people), labelled by hand with the persons each names; the rules were written on
the `tune` ones and the figures that count are on the `held` ones. Definitions are measured on
written sentences (lectures are not among the real material). The notes of conversations
(decisions, action items, questions, overview) are measured in test_notes.py.
"""

import re
from datetime import datetime
from pathlib import Path

from daemon.summaries import extractors
from daemon.summaries.extractors import Sentence

DATA = Path(__file__).parent / "data" / "extractors"
SAID = datetime(2026, 11, 25, 10, 0).timestamp()  # a Wednesday morning
FLOOR = 0.9


def rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text().splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def bare(term: str) -> str:
    return re.sub(r"^(?:an?|the) ", "", term.lower())


def scores(expected: list[bool], found: list[bool]) -> tuple[float, float]:
    hits = sum(e and f for e, f in zip(expected, found, strict=True))
    precision = hits / max(1, sum(found))
    recall = hits / max(1, sum(expected))
    return precision, recall


def report(name: str, count: int, precision: float, recall: float) -> None:
    print(f"{name}: {count} sentences, precision {precision:.2f}, recall {recall:.2f}")


def test_definitions_with_their_terms():
    data = rows("definitions.tsv")
    assert len(data) >= 40
    expected, found, right_terms = [], [], 0
    for label, term, text in data:
        items = extractors.definitions([Sentence(text, SAID)])
        expected.append(label == "1")
        found.append(bool(items))
        right_terms += label == "1" and bool(items) and bare(items[0].term) == bare(term)
    precision, recall = scores(expected, found)
    report("definitions", len(data), precision, recall)
    both = sum(e and f for e, f in zip(expected, found, strict=True))
    print(f"  term right in {right_terms} of {both}")
    assert precision >= FLOOR and recall >= FLOOR
    assert right_terms >= FLOOR * both


def test_mentions_of_people_in_real_talk():
    data = rows("mentions.tsv")
    assert len(data) == 400
    for part in ("tune", "held"):
        true_positive = false_positive = false_negative = 0
        for _, names, text in (r for r in data if r[0] == part):
            want = {n for n in names.split(",") if n}
            items = extractors.mentions([Sentence(text, SAID)])
            got = set(items[0].names) if items else set()
            true_positive += len(want & got)
            false_positive += len(got - want)
            false_negative += len(want - got)
        precision = true_positive / max(1, true_positive + false_positive)
        recall = true_positive / max(1, true_positive + false_negative)
        report(f"mentions ({part})", 200, precision, recall)
    assert precision >= 0.35 and recall >= 0.6


def test_words_that_open_spoken_sentences_and_places_are_nobody():
    said = [
        "Actually, them, pretty will update the pricing page my Thursday.",
        "Paris is lovely in spring.",
        "You know, the Bill says nothing about it.",
    ]
    assert extractors.mentions([Sentence(t, SAID) for t in said]) == []
    [item] = extractors.mentions([Sentence("I talked to Olivia and Dr. Tanaka about it.", SAID)])
    assert item.names == ("Olivia", "Tanaka")


def test_due_dates_said_in_many_ways():
    due = extractors.due_date
    assert due("by Friday", SAID) == "2026-11-27"
    assert due("by Wednesday", SAID) == "2026-11-25"  # said on a Wednesday: today
    assert due("by next Friday", SAID) == "2026-12-04"
    assert due("by the end of the month", SAID) == "2026-11-30"
    assert due("due December 3rd", SAID) == "2026-12-03"
    assert due("by the 2nd", SAID) == "2026-12-02"  # the next 2nd of a month
    assert due("by 2027-01-15", SAID) == "2027-01-15"
    assert due("whenever you can", SAID) is None


def test_a_segment_splits_into_timed_sentences():
    parts = extractors.split_sentences("We decided. Alice will send it? Yes.", 100.0, 10.0)
    assert [p.text for p in parts] == ["We decided.", "Alice will send it?", "Yes."]
    assert parts[0].at == 100.0 and 100.0 < parts[1].at < parts[2].at < 110.0
