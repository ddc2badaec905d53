"""The index: one whoosh index per profile, built from the store and searched with snippets.

Whoosh stays behind this module. An index holds the store's unflagged segments (stemmed English
text, time, source, speaker, confidence); `sync` adds whatever the store has beyond the index's
mark, idempotently, so a crash between a store commit and an index commit heals on the next sync.
An index made before segments had speakers gains the field when it is opened.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from whoosh import highlight, index, qparser
from whoosh.analysis import SimpleAnalyzer, StemmingAnalyzer
from whoosh.fields import DATETIME, ID, NUMERIC, STORED, TEXT, Schema
from whoosh.query import DateRange, Not, NullQuery

from daemon.core.errors import QueryError
from daemon.storage.segments import StoredSegment
from daemon.storage.store import Store

__all__ = ["SearchIndex", "Hit", "search_profiles"]

log = logging.getLogger(__name__)

_LOCK_TIMEOUT_S = 60.0
# Segments a commit leaves unmerged: merging on every commit cost an utterance's sync about
# 14 ms of CPU; merging once this many have piled up keeps searches reading few of them.
_UNMERGED_SEGMENTS = 8


def _schema() -> Schema:
    return Schema(
        seg_id=ID(stored=True, unique=True),
        text=TEXT(analyzer=StemmingAnalyzer(stoplist=None), stored=True, phrase=True),
        start=DATETIME(stored=True, sortable=True),
        end=STORED,
        source=ID(stored=True),
        confidence=NUMERIC(float, stored=True),
        speaker=_speaker_field(),
    )


def _speaker_field() -> TEXT:
    """Who spoke, found by any of their names in any case: speaker:maria, speaker:"maria lopez"."""
    return TEXT(analyzer=SimpleAnalyzer(), stored=True, phrase=True)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).replace(tzinfo=None)


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Hit:
    """One search result."""

    segment_id: int
    text: str
    snippet: str
    start: float
    end: float
    profile: str
    source: str
    score: float
    confidence: float
    speaker: str | None = None


class _MarkdownBold(highlight.Formatter):
    """Matched words as **word**, readable in a terminal, JSON and Markdown alike."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return f"**{highlight.get_text(text, token, replace)}**"


def _document(segment: StoredSegment) -> dict:
    document = {
        "seg_id": str(segment.id),
        "text": segment.text,
        "start": _utc(segment.start),
        "end": segment.end,
        "source": segment.source,
        "confidence": segment.confidence,
    }
    if segment.speaker:
        document["speaker"] = segment.speaker
    return document


def parse_query(text: str, schema: Schema):
    """Words (all must match), "phrases", -exclusions, and field:value for source and speaker."""
    stripped = text.strip()
    if not stripped:
        raise QueryError("the search query is empty; expected one or more words")
    if stripped.count('"') % 2:
        raise QueryError(f"the search query {text!r} has an unclosed quote")
    positives = [t for t in stripped.replace('"', " ").split() if not t.startswith("-")]
    if not positives:
        raise QueryError(
            f"the search query {text!r} only excludes words; expected at least one word to find"
        )
    parser = qparser.QueryParser("text", schema)
    parser.add_plugin(qparser.PlusMinusPlugin())
    parser.remove_plugin_class(qparser.WildcardPlugin)
    try:
        query = parser.parse(stripped)
    except Exception as exc:  # whoosh raises assorted errors for odd syntax
        raise QueryError(f"the search query {text!r} could not be read ({exc})") from exc
    if query is None or query is NullQuery or isinstance(query, Not):
        raise QueryError(f"the search query {text!r} has no words that can be searched")
    return query


class SearchIndex:
    """The whoosh index of one profile."""

    def __init__(self, root: Path, profile: str):
        self.profile = profile
        self.directory = root / profile
        self._index = None
        self._searcher = None
        self._committed_generation: int | None = None  # the index as this object left it

    def exists(self) -> bool:
        return index.exists_in(str(self.directory))

    def _open(self, *, create: bool = False):
        if self._index is None:
            if self.exists():
                self._index = index.open_dir(str(self.directory))
                if "speaker" not in self._index.schema:
                    self._add_speaker_field()
            elif create:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._index = index.create_in(str(self.directory), _schema())
            else:
                return None
        return self._index

    def _add_speaker_field(self) -> None:
        writer = self._index.writer(timeout=_LOCK_TIMEOUT_S, delay=0.05)
        try:
            writer.add_field("speaker", _speaker_field())
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self._index = index.open_dir(str(self.directory))

    def sync(self, store: Store) -> int:
        """Index the profile's segments the store has beyond this index's mark; returns how many."""
        if store.segments.max_id(self.profile) <= store.index_marks.get(self.profile):
            return 0
        ix = self._open(create=True)
        writer = ix.writer(timeout=_LOCK_TIMEOUT_S, delay=0.05)
        try:
            mark = store.index_marks.get(self.profile)
            new = store.segments.find(profiles=[self.profile], after_id=mark)
            # Segments past the mark can already be in the index only if a writer committed
            # them and stopped before moving the mark; when no one but this object has written
            # since its last sync, they cannot be, and adding skips a lookup per segment.
            ours = writer.generation - 1 == self._committed_generation
            add = writer.add_document if ours else writer.update_document
            for segment in new:
                if segment.flag is None:
                    add(**_document(segment))
        except BaseException:
            writer.cancel()
            raise
        if not new:
            writer.cancel()
            return 0
        writer.commit(merge=len(writer.segments) >= _UNMERGED_SEGMENTS)
        store.index_marks.set(self.profile, new[-1].id)
        self._committed_generation = writer.generation  # only once the mark says so too
        return sum(1 for s in new if s.flag is None)

    def delete(self, segment_ids: list[int]) -> None:
        """Remove these segments from the index (those never indexed are simply absent)."""
        ix = self._open()
        if ix is None or not segment_ids:
            return
        writer = ix.writer(timeout=_LOCK_TIMEOUT_S, delay=0.05)
        try:
            for segment_id in segment_ids:
                writer.delete_by_term("seg_id", str(segment_id))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    def rebuild(self, store: Store) -> int:
        """Build a fresh index from the store and swap it in; returns the number of segments."""
        fresh = self.directory.with_name(self.directory.name + ".rebuild")
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(mode=0o700, parents=True)
        ix = index.create_in(str(fresh), _schema())
        mark = store.segments.max_id(self.profile)
        writer = ix.writer(limitmb=256)
        count = 0
        for segment in store.segments.iter_all(profile=self.profile):
            if segment.id > mark:
                break
            writer.add_document(**_document(segment))
            count += 1
        writer.commit(optimize=True)
        ix.close()
        retired = self.directory.with_name(self.directory.name + ".old")
        shutil.rmtree(retired, ignore_errors=True)
        if self.directory.exists():
            self.directory.rename(retired)
        fresh.rename(self.directory)
        shutil.rmtree(retired, ignore_errors=True)
        self._index = None
        store.index_marks.set(self.profile, mark)
        return count

    def search(
        self,
        query_text: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10,
        newest_first: bool = False,
    ) -> list[Hit]:
        query = parse_query(query_text, _schema())
        ix = self._open()
        if ix is None:
            return []
        time_filter = None
        if since is not None or until is not None:
            time_filter = DateRange(
                "start",
                _utc(since) if since is not None else None,
                _utc(until) if until is not None else None,
            )
        fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
        searcher = self._fresh_searcher(ix)
        results = searcher.search(
            query,
            limit=limit,
            filter=time_filter,
            sortedby="start" if newest_first else None,
            reverse=newest_first,
            terms=True,
        )
        results.fragmenter = fragmenter
        results.formatter = _MarkdownBold()
        hits = []
        for hit in results:
            snippet = hit.highlights("text", top=2) or hit["text"]
            hits.append(
                Hit(
                    segment_id=int(hit["seg_id"]),
                    text=hit["text"],
                    snippet=snippet,
                    start=_epoch(hit["start"]),
                    end=float(hit["end"]),
                    profile=self.profile,
                    source=hit["source"],
                    score=round(float(hit.score or 0.0), 4),
                    confidence=float(hit["confidence"]),
                    speaker=hit.get("speaker"),
                )
            )
        return hits

    def _fresh_searcher(self, ix):
        """A searcher kept open between queries, reopened when the index has changed.

        Not whoosh's `refresh()`: its reader reuse misses deletions made by update_document.
        """
        if (
            self._searcher is not None
            and ix.latest_generation() != self._searcher.reader().generation()
        ):
            self._searcher.close()
            self._searcher = None
        if self._searcher is None:
            self._searcher = ix.searcher()
        return self._searcher

    def warm(self) -> None:
        """Open the index and a searcher now, so the first search is as quick as the rest."""
        ix = self._open()
        if ix is not None:
            self._fresh_searcher(ix)

    def key_terms(self, text: str, count: int = 10) -> list[str]:
        """The words of `text` most particular to it against everything in this index."""
        ix = self._open()
        if ix is None or not text.strip():
            return []
        searcher = self._fresh_searcher(ix)
        return [term for term, _ in searcher.key_terms_from_text("text", text, numterms=count)]

    def doc_count(self) -> int:
        ix = self._open()
        return 0 if ix is None else ix.doc_count()

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self._index is not None:
            self._index.close()
            self._index = None


def search_profiles(
    root: Path,
    profiles: Sequence[str],
    query_text: str,
    *,
    since: float | None = None,
    until: float | None = None,
    limit: int = 10,
    newest_first: bool = False,
    open_indexes: dict[str, SearchIndex] | None = None,
) -> list[Hit]:
    """Search several profiles' indexes and merge the hits (by score, or newest first).

    A long-lived caller passes `open_indexes` to keep each index open between searches: opening
    a large index costs far more than searching it.
    """
    started = time.perf_counter()
    cache = open_indexes if open_indexes is not None else {}
    hits: list[Hit] = []
    for profile in profiles:
        index = cache.setdefault(profile, SearchIndex(root, profile))
        hits.extend(
            index.search(
                query_text, since=since, until=until, limit=limit, newest_first=newest_first
            )
        )
    if newest_first:
        hits.sort(key=lambda h: h.start, reverse=True)
    else:
        hits.sort(key=lambda h: (-h.score, -h.start))
    log.debug(
        "search %r over %d profiles: %.1f ms",
        query_text,
        len(profiles),
        (time.perf_counter() - started) * 1000,
    )
    return hits[:limit]
