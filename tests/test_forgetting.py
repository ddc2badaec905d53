import numpy as np
from transcripts import add_said as add

from daemon.storage.forgetting import Forgetter
from daemon.storage.search import SearchIndex
from daemon.storage.spool import Spool
from daemon.storage.store import Store


def test_forget_deletes_store_index_spool_and_audio_of_the_span_only(tmp_path):
    store = Store(tmp_path / "e.db")
    spool = Spool(tmp_path / "spool")
    kept_audio = tmp_path / "audio" / "late.wav"
    kept_audio.parent.mkdir()
    kept_audio.write_bytes(b"RIFF")
    add(store, "early", "work", 1000.0, "the budget before the span")
    add(store, "late", "work", 2000.0, "the budget inside the span", audio_path=str(kept_audio))
    add(store, "other", "home", 2010.0, "a budget heard under another profile")
    indexes = {p: SearchIndex(tmp_path / "index", p) for p in ("work", "home")}
    for index in indexes.values():
        index.sync(store)
    spool.put(profile="work", source="mic", start=2020.0, samples=np.zeros(16000, dtype=np.int16))
    spool.put(profile="work", source="mic", start=500.0, samples=np.zeros(16000, dtype=np.int16))

    forgetter = Forgetter(store=store, spool=spool, index_root=tmp_path / "index")
    assert forgetter.forget(1900.0, 2100.0) == 3  # two stored (two profiles), one spooled

    assert [u.uid for u in store.utterances.find()] == ["early"]
    assert [h.text for h in indexes["work"].search("budget")] == ["the budget before the span"]
    assert indexes["home"].search("budget") == []
    assert [item.start for item in spool.pending()] == [500.0]
    assert not kept_audio.exists()
    # speech still in flight when the user asked is recognised, so it is dropped on arrival
    assert forgetter.covers(2095.0, 2105.0) and not forgetter.covers(2100.0, 2110.0)


def test_what_is_heard_after_forgetting_the_newest_is_indexed(tmp_path):
    """SQLite would hand out the forgotten segment's id again, and indexes catch up by id."""
    store = Store(tmp_path / "e.db")
    spool = Spool(tmp_path / "spool")
    index = SearchIndex(tmp_path / "index", "work")
    add(store, "a", "work", 1000.0, "the morning forecast")
    index.sync(store)
    Forgetter(store=store, spool=spool, index_root=tmp_path / "index").forget(900.0, 1100.0)
    add(store, "b", "work", 2000.0, "the concert starts at eight")
    assert index.sync(store) == 1
    assert [h.text for h in index.search("concert")] == ["the concert starts at eight"]
    assert index.search("forecast") == []


def test_a_forgotten_span_stays_forgotten_after_a_restart(tmp_path):
    """A wearable may sync a recording of the span long after the user asked to forget it."""
    store = Store(tmp_path / "e.db")
    spool = Spool(tmp_path / "spool")
    Forgetter(store=store, spool=spool, index_root=tmp_path / "index").forget(900.0, 1100.0)
    store.close()
    reopened = Store(tmp_path / "e.db")
    later = Forgetter(store=reopened, spool=spool, index_root=tmp_path / "index")
    assert later.covers(1000.0, 1005.0) and not later.covers(1200.0, 1205.0)
