"""Each extractor's precision and recall on sentences labelled for the purpose, near misses too."""

import re
from datetime import datetime
from pathlib import Path

import pytest

from daemon import extractors
from daemon.extractors import Sentence

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


@pytest.mark.parametrize(
    ("name", "extract"),
    [("decisions", extractors.decisions), ("questions", extractors.questions)],
)
def test_sentence_extractors(name, extract):
    data = rows(f"{name}.tsv")
    assert len(data) >= 40
    expected = [label == "1" for label, _ in data]
    found = [bool(extract([Sentence(text, SAID)])) for _, text in data]
    precision, recall = scores(expected, found)
    report(name, len(data), precision, recall)
    assert precision >= FLOOR and recall >= FLOOR


def test_action_items_with_owners_and_due_dates():
    data = rows("action_items.tsv")
    assert len(data) >= 40
    expected, found, right_details, details = [], [], 0, 0
    for label, owner, due, text in data:
        items = extractors.action_items([Sentence(text, SAID)])
        expected.append(label == "1")
        found.append(bool(items))
        if label == "1" and items:
            details += 1
            right_details += (items[0].owner or "") == owner and (items[0].due or "") == due
    precision, recall = scores(expected, found)
    report("action items", len(data), precision, recall)
    print(f"  owner and due date right in {right_details} of {details}")
    assert precision >= FLOOR and recall >= FLOOR
    assert right_details / details >= FLOOR


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


def test_mentions_of_people():
    data = rows("mentions.tsv")
    assert len(data) >= 40
    true_positive = false_positive = false_negative = 0
    for names, text in data:
        want = {n for n in names.split(",") if n}
        items = extractors.mentions([Sentence(text, SAID)])
        got = set(items[0].names) if items else set()
        true_positive += len(want & got)
        false_positive += len(got - want)
        false_negative += len(want - got)
    precision = true_positive / max(1, true_positive + false_positive)
    recall = true_positive / max(1, true_positive + false_negative)
    report("mentions", len(data), precision, recall)
    assert precision >= FLOOR and recall >= FLOOR


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


def test_highlights_and_conversations_keep_time_order():
    talk = [
        Sentence("The budget review covers hiring, travel and the hiring plan.", 100.0),
        Sentence("Lunch was nice.", 110.0),
        Sentence("Hiring two engineers fits the budget if travel is cut.", 120.0),
        Sentence("The travel budget drops by half.", 130.0),
        Sentence("See you.", 1000.0),
    ]
    top = extractors.highlights(talk, count=2)
    assert [i.at for i in top] == sorted(i.at for i in top)
    assert all("budget" in i.text.lower() or "hiring" in i.text.lower() for i in top)
    groups = extractors.conversations(talk, gap_s=300)
    assert [len(g) for g in groups] == [4, 1]


def test_a_segment_splits_into_timed_sentences():
    parts = extractors.split_sentences("We decided. Alice will send it? Yes.", 100.0, 10.0)
    assert [p.text for p in parts] == ["We decided.", "Alice will send it?", "Yes."]
    assert parts[0].at == 100.0 and 100.0 < parts[1].at < parts[2].at < 110.0
