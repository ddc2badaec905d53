"""Redaction of emails, phone numbers, card numbers and a profile's own patterns."""

import re
from pathlib import Path

import pytest

from daemon.transcribe.redaction import Redactor

DATA = Path(__file__).parent / "data" / "redaction"

REDACTOR = Redactor(patterns=[r"\bproject falcon\b"])


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("Write to alice@example.com today.", "Write to [email] today."),
        ("Right to Maria at work.org", "Right to [email]"),  # read aloud, as Whisper writes it
        ("send it to Robertat email.com", "send it to [email]"),
        ("My email is at www.emple.com.", "My email [email]."),
        ("Call me on +44 20 7946 0958.", "Call me on [phone]."),
        ("Call me on 555 12034,567", "Call me on [phone]"),
        ("My number is 555-123-4567, thanks.", "My number is [phone], thanks."),
        ("My card number is 4,24,24,24,24,24,24,24,24,24,24,22", "My card number is [card]"),
        ("My card tattoos Ter42424242424242424242 unsafe", "My card tattoos Ter[card] unsafe"),
        ("The card is 4111 1111 1111 1111.", "The card is [card]."),
        ("My card number is 402404242424", "My card number is [phone]"),  # digits dropped
        ("Call 5551234567 now.", "Call [phone] now."),
        ("Project Falcon ships in May.", "[redacted] ships in May."),
        # near misses stay as they were
        ("We meet at noon.", "We meet at noon."),
        ("The budget is 1,000,000 dollars.", "The budget is 1,000,000 dollars."),
        ("It happened on 2026-11-25.", "It happened on 2026-11-25."),
        ("We sold 250 units in 2025.", "We sold 250 units in 2025."),
        ("Look at the website example.com tomorrow.", "Look at the website example.com tomorrow."),
        ("Version 3.11.7 is out.", "Version 3.11.7 is out."),
        ("Room 101 at 10.30.", "Room 101 at 10.30."),
        ("We counted 125000 birds.", "We counted 125000 birds."),
        ("Pi is 3.14159265.", "Pi is 3.14159265."),
        ("We counted 1, 2, 3 and stopped.", "We counted 1, 2, 3 and stopped."),
        ("We met on 12/05/2026 at noon.", "We met on 12/05/2026 at noon."),
        ("Version 1.2.3.4 is out.", "Version 1.2.3.4 is out."),
        ("Chapter one two is long.", "Chapter one two is long."),
        # spoken forms, as people say them and as the model may write them
        ("Write to maria at example dot com.", "Write to [email]."),
        ("Write to maria @ example.com.", "Write to [email]."),
        ("Call 555 - 123 - 4567.", "Call [phone]."),
        ("Call 555/123/4567.", "Call [phone]."),
        ("Call 555\u00a0123\u00a04567.", "Call [phone]."),  # no-break spaces
        ("Call 555\u2013123\u20134567.", "Call [phone]."),  # en dashes
        ("It is 8 8 4 2 then.", "It is [number] then."),  # digits read out one by one
        ("It is four four seven one then.", "It is [number] then."),
    ],
)
def test_what_is_redacted_and_what_is_not(said, kept):
    assert REDACTOR.text(said) == kept


def test_word_timings_lose_the_redacted_words():
    words = [
        (0.0, 0.3, "Right", 0.9),
        (0.3, 0.5, "to", 0.9),
        (0.5, 0.9, "Maria", 0.9),
        (0.9, 1.0, "at", 0.9),
        (1.0, 1.6, "work.org", 0.8),
        (1.6, 2.0, "please", 0.9),
    ]
    assert REDACTOR.words(words) == [
        (0.0, 0.3, "Right", 0.9),
        (0.3, 0.5, "to", 0.9),
        (0.5, 0.9, "[email]", 0.9),
        (1.6, 2.0, "please", 0.9),
    ]


def test_detectors_can_be_switched_off():
    assert Redactor(detectors=[]).text("alice@example.com 4111 1111 1111 1111") == (
        "alice@example.com 4111 1111 1111 1111"
    )
    assert not Redactor(detectors=[]).active


def test_a_card_number_spilling_over_segments_takes_every_number_of_the_utterance():
    texts, spilled = REDACTOR.utterance(
        ["My card number is 4,24,24,24,24,24,24,24,22", "for $4,242.", "Room 101 at 10.30."]
    )
    assert spilled
    assert texts == ["My card number is [card]", "for $[number].", "Room [number] at [number]."]
    plain, spilled = REDACTOR.utterance(["We sold 250 units.", "Room 101."])
    assert plain == ["We sold 250 units.", "Room 101."] and not spilled


@pytest.mark.parametrize(
    ("heard", "kept"),
    [
        # what the bundled model wrote for a card number read aloud: too few digits to be one
        (["My card number is 4,242"], ["My card number is [number]"]),
        (["My credit cardagumber is 4,2424 here"], ["My credit cardagumber is [number] here"]),
        (
            ["My current number is 4, exposure to 4404"],
            ["My current number is [number], exposure to [number]"],  # a lone digit too
        ),
        (
            ["Your phone number, please.", "It is 555 12."],
            ["Your phone number, please.", "It is [number]."],
        ),
        (["The PIN code is 1234."], ["The PIN code is [number]."]),
    ],
)
def test_an_utterance_that_speaks_of_a_private_number_keeps_none_of_its_numbers(heard, kept):
    assert REDACTOR.utterance(heard) == (kept, True)
    assert Redactor(detectors=["email"]).utterance(heard) == (heard, False)


@pytest.mark.parametrize(
    "heard",
    ["The number of users grew to 4,000.", "Pin the issue to release 2.3.", "Card 12 is due."],
)
def test_numbers_said_without_such_words_stay(heard):
    assert REDACTOR.utterance([heard]) == ([heard], False)


def spoken() -> list[tuple[str, str, str]]:
    rows = (DATA / "spoken.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(r.split("\t")) for r in rows if not r.startswith("#")]


@pytest.mark.parametrize(("said", "heard", "kept"), spoken())
def test_what_the_model_writes_for_spoken_private_numbers_and_addresses_is_hidden(
    said, heard, kept
):
    """The middle column is what the bundled model wrote for the first, spoken by espeak-ng
    (test_redaction_live.py checks that it still does)."""
    redacted, _ = REDACTOR.utterance([heard])
    assert redacted == [kept]
    assert not re.search(r"\d", kept)  # no digit of it is left
    assert not re.search(r"@|\.(?:com|org|uk)\b", kept)
