import sqlite3

import pytest

from daemon.core.errors import QueryError
from daemon.storage.search import SearchIndex, search_profiles
from daemon.storage.store import Store
from daemon.storage.utterances import NewSegment

TEXTS = [
    (1000.0, "Alice sends the slides by Friday"),
    (2000.0, "The budget review moves to Tuesday"),
    (3000.0, "budgets are reviewed weekly by finance"),
    (4000.0, "Thank you."),
]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "e.db")
    for i, (t, text) in enumerate(TEXTS):
        s.utterances.add(
            uid=f"u{i}",
            profile="work",
            source="mic" if i % 2 else "headset",
            start=t,
            end=t + 3,
            model="m",
            language="en",
            segments=[
                NewSegment(
                    start=t,
                    end=t + 3,
                    text=text,
                    avg_logprob=-0.3,
                    no_speech_prob=0.1,
                    compression_ratio=1.2,
                    words=[],
                    flag="known invention" if text == "Thank you." else None,
                )
            ],
        )
    return s


@pytest.fixture
def index(tmp_path, store):
    ix = SearchIndex(tmp_path / "index", "work")
    assert ix.sync(store) == 3
    return ix


def texts(hits):
    return [h.text for h in hits]


def test_stemmed_words_match_and_snippets_highlight(index):
    hits = index.search("budget")
    assert set(texts(hits)) == {TEXTS[1][1], TEXTS[2][1]}
    assert all("**budget" in h.snippet for h in hits)
    assert hits[0].profile == "work" and hits[0].score > 0


def test_all_words_must_match(index):
    assert texts(index.search("slides friday")) == [TEXTS[0][1]]
    assert index.search("slides tuesday") == []


def test_phrases_need_the_words_together(index):
    assert texts(index.search('"budget review"')) == [TEXTS[1][1]]


def test_exclusions(index):
    assert texts(index.search("budget -weekly")) == [TEXTS[1][1]]


def test_flagged_segments_are_not_indexed(index):
    assert index.search("thank") == []


def test_since_until_filter_by_time(index):
    assert texts(index.search("budget", since=2500.0)) == [TEXTS[2][1]]
    assert texts(index.search("budget", until=2500.0)) == [TEXTS[1][1]]


def test_source_field_query(index):
    assert texts(index.search("budget source:headset")) == [TEXTS[2][1]]


def test_newest_first(index):
    assert texts(index.search("budget", newest_first=True)) == [TEXTS[2][1], TEXTS[1][1]]


def say_later(store, uid: str, start: float, text: str) -> None:
    """Store one more utterance of one segment, two seconds long, in the profile "work"."""
    store.utterances.add(
        uid=uid,
        profile="work",
        source="mic",
        start=start,
        end=start + 2,
        model="m",
        language="en",
        segments=[
            NewSegment(
                start=start,
                end=start + 2,
                text=text,
                avg_logprob=-0.2,
                no_speech_prob=0.1,
                compression_ratio=1.1,
                words=[],
            )
        ],
    )


def test_sync_is_idempotent_and_incremental(tmp_path, store, index):
    assert index.sync(store) == 0
    say_later(store, "new", 5000.0, "a new budget line")
    assert index.sync(store) == 1
    assert len(index.search("budget")) == 3
    assert index.doc_count() == 4


def test_a_mark_lost_after_the_index_commit_never_duplicates(tmp_path, store, index, monkeypatch):
    store.index_marks.set("work", 0)  # a crash after the index commit, before the mark moved
    after_crash = SearchIndex(tmp_path / "index", "work")  # the next process
    after_crash.sync(store)
    assert index.doc_count() == 3 and len(after_crash.search("budget")) == 2

    # this object's own mark write fails once (a locked or full store) after its commit
    say_later(store, "new", 5000.0, "a new budget line")
    real = store.index_marks.set

    def locked(profile, segment_id):
        monkeypatch.setattr(store.index_marks, "set", real)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store.index_marks, "set", locked)
    with pytest.raises(sqlite3.OperationalError):
        after_crash.sync(store)
    after_crash.sync(store)
    assert len(after_crash.search("budget")) == 3
    assert after_crash.doc_count() == 4


def test_many_syncs_leave_few_segments(tmp_path, store, index):
    for i in range(30):
        say_later(store, f"more{i}", 6000.0 + 3 * i, f"item {i}")
        assert index.sync(store) == 1
    assert index.doc_count() == 33
    assert len(index._open().reader().leaf_readers()) <= 9


def test_rebuild_matches_sync(tmp_path, store, index):
    assert index.rebuild(store) == 3
    assert set(texts(index.search("budget"))) == {TEXTS[1][1], TEXTS[2][1]}


def test_profiles_are_separate(tmp_path, store, index):
    assert search_profiles(tmp_path / "index", ["other"], "budget") == []
    assert len(search_profiles(tmp_path / "index", ["work", "other"], "budget")) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ('"unclosed phrase', "unclosed quote"),
        ("-budget", "only excludes words"),
    ],
)
def test_unreadable_queries_raise_a_plain_error(index, query, message):
    with pytest.raises(QueryError, match=message):
        index.search(query)
