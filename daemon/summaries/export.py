"""A profile's summary of a period: built from its transcripts, written as Markdown or JSON.

The sections come from the profile (`export.sections`, `export.custom_sections`); every item
keeps the time it was said (and who said it, when known), so `earmark transcripts --around TIME`
finds it again. A period always maps to the same file, so exporting it again rewrites that file.

A profile with `conversations` gets notes per conversation, read from the store one conversation
at a time, so a week of speech takes memory for one conversation and time in proportion to its
length; other profiles get their sections over the whole period.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from daemon import __version__
from daemon.core.paths import Paths, write_private
from daemon.core.profiles import SECTIONS, CustomSection, Profile
from daemon.core.timespec import iso
from daemon.storage.search import SearchIndex
from daemon.storage.store import Store
from daemon.summaries import extractors, notes
from daemon.summaries.extractors import STOP_WORDS, Item, Sentence
from daemon.summaries.language_model import LanguageModelUnavailable, summarize_with

__all__ = [
    "summarize",
    "render_markdown",
    "render_json",
    "export_path",
    "write_export",
    "export_period",
]

_OUTLINE_BLOCK_S = 600  # the outline: one line per ten minutes of speech
_WORKERS_FROM_SEGMENTS = 20_000  # a period this long has its conversations read on every core


def _sentences(store: Store, profile: str, since: float, until: float) -> Iterator[Sentence]:
    """The period's sentences in time order, read from the store in batches."""
    for segment in store.segments.iter_period(profile=profile, since=since, until=until):
        duration = segment.end - segment.start
        yield from extractors.split_sentences(
            segment.text, segment.start, duration, segment.speaker
        )


def _conversations(sentences: Iterator[Sentence], gap_s: float) -> Iterator[list[Sentence]]:
    """Sentences a conversation at a time: one ends where speech paused for `gap_s`."""
    current: list[Sentence] = []
    for s in sentences:
        if current and s.at - current[-1].at > gap_s:
            yield current
            current = []
        current.append(s)
    if current:
        yield current


def _custom_patterns(section: CustomSection) -> list[re.Pattern]:
    phrases = [re.compile(rf"\b{re.escape(t)}\b", re.I) for t in section.triggers]
    return phrases + [re.compile(p, re.I) for p in section.patterns]


def _outline(talk: notes.Talk) -> list[Item]:
    """For each ten minutes that had speech, its most telling sentence."""
    best: dict[int, tuple[float, int]] = {}
    for i, score in enumerate(notes.telling(talk)):
        block = int(talk.sentences[i].at // _OUTLINE_BLOCK_S)
        if block not in best or score > best[block][0]:
            best[block] = (score, i)
    return [notes.item_of(talk, i) for _, (_, i) in sorted(best.items())]


def _key_terms(index: SearchIndex, sentences: list[Sentence]) -> list[Item]:
    """Words of this period that stand out against everything the profile ever heard."""
    from whoosh.lang.porter import stem

    text = " ".join(s.text for s in sentences)
    spoken: dict[str, str] = {}  # the index keeps stems; show the word as it was said
    for word in re.findall(r"[A-Za-z][A-Za-z'-]+", text):
        spoken.setdefault(stem(word.lower()), word.lower())
    items = []
    terms = [t for t in index.key_terms(text, count=40) if len(t) > 2 and t not in STOP_WORDS]
    for term in terms[:10]:
        word = spoken.get(term, term)
        first = next((s for s in sentences if word in s.text.lower()), None)
        if first is not None:
            items.append(Item(first.text.strip(), first.at, term=word))
    return items


def _section(name: str, talk: notes.Talk, profile: Profile, index: SearchIndex) -> list[Item]:
    sentences = talk.sentences
    if name == "highlights":
        return notes.overview(talk, about=profile.export.talk_is_called)
    if name == "action_items":
        return notes.action_items(talk)
    if name == "decisions":
        return notes.decisions(talk)
    if name == "questions":
        return notes.questions(talk)
    if name == "definitions":
        return extractors.definitions(sentences)
    if name == "mentions":
        return extractors.mentions(sentences, known=profile.transcription.vocabulary)
    if name == "outline":
        return _outline(talk)
    if name == "timeline":
        return [Item(s.text.strip(), s.at, speaker=s.speaker) for s in sentences]
    if name == "key_terms":
        return _key_terms(index, sentences)
    raise ValueError(f"unknown section {name!r}")


def _item_dict(item: Item) -> dict:
    data = {"text": item.text, "at": iso(item.at)}
    for key in ("speaker", "owner", "due", "term"):
        if getattr(item, key):
            data[key] = getattr(item, key)
    if item.names:
        data["names"] = list(item.names)
    if item.agreed_by:
        data["agreed_by"] = list(item.agreed_by)
    return data


def _sections(sentences: list[Sentence], profile: Profile, index: SearchIndex) -> list[dict]:
    talk = notes.Talk.of(sentences)
    wanted = [n for n in profile.export.sections if n != "conversations"]
    sections = [
        {
            "name": n,
            "title": SECTIONS[n],
            "items": [_item_dict(i) for i in _section(n, talk, profile, index)],
        }
        for n in wanted
    ]
    for custom in profile.export.custom_sections:
        items = extractors.matching(sentences, _custom_patterns(custom))
        sections.append(
            {"name": custom.title, "title": custom.title, "items": [_item_dict(i) for i in items]}
        )
    return sections


def _conversation_notes(job: tuple[list[Sentence], Profile, Path]) -> dict:
    """One conversation's notes (in a worker process, for a long period)."""
    group, profile, index_dir = job
    index = SearchIndex(index_dir, profile.name)
    try:
        return {
            "start": iso(group[0].at),
            "end": iso(group[-1].at),
            "speakers": _speakers(group),
            "sections": _sections(group, profile, index),
            "sentences": len(group),
        }
    finally:
        index.close()


def _in_workers(work: Callable, jobs: Iterable) -> Iterator:
    """`map(work, jobs)` on every core, in order, with only a few jobs in flight (memory stays
    bounded). The workers come from a fork server: forking a threaded daemon is not safe."""
    context = multiprocessing.get_context("forkserver")
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append(pool.submit(work, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _speakers(sentences: list[Sentence]) -> list[dict]:
    """Who spoke in a conversation, the most first, with their share of the words."""
    words: dict[str, int] = {}
    for s in sentences:
        if s.speaker:
            words[s.speaker] = words.get(s.speaker, 0) + len(s.text.split())
    total = sum(words.values()) or 1
    return [
        {"name": name, "share": round(n / total, 3)}
        for name, n in sorted(words.items(), key=lambda w: -w[1])
    ]


_ROLL_UP = ("decisions", "action_items")


def _roll_up(conversations: list[dict]) -> list[dict]:
    """The period's decisions and action items from all its conversations, in one place."""
    sections = []
    for name in _ROLL_UP:
        items = [
            item
            for conversation in conversations
            for section in conversation["sections"]
            if section["name"] == name
            for item in section["items"]
        ]
        if any(section["name"] == name for c in conversations for section in c["sections"]):
            sections.append({"name": name, "title": SECTIONS[name], "items": items})
    return sections


def summarize(paths: Paths, profile: Profile, since: float, until: float) -> dict:
    """The summary of one profile's period, as plain data (this is also the JSON export)."""
    store = Store(paths.database)
    index = SearchIndex(paths.index_dir, profile.name)
    try:
        by_conversation = "conversations" in profile.export.sections
        sentences = [] if by_conversation else list(_sentences(store, profile.name, since, until))
        summary: dict = {
            "profile": profile.name,
            "description": profile.description,
            "since": iso(since),
            "until": iso(until),
            "generated": iso(time.time()),
            "generator": f"earmark {__version__}",
            "period": period_name(since, until),
            "sentences": len(sentences),
        }
        if by_conversation:
            gap = profile.export.conversation_gap_min * 60
            groups = _conversations(_sentences(store, profile.name, since, until), gap)
            jobs = ((group, profile, paths.index_dir) for group in groups)
            many = store.segments.count_period(profile=profile.name, since=since, until=until)
            notes_of = _in_workers if many >= _WORKERS_FROM_SEGMENTS else map
            summary["conversations"] = list(notes_of(_conversation_notes, jobs))
            summary["sentences"] = sum(c.pop("sentences") for c in summary["conversations"])
            summary["roll_up"] = _roll_up(summary["conversations"])
        else:
            summary["sections"] = _sections(sentences, profile, index)
        model = profile.export.language_model
        if model.endpoint and summary["sentences"]:
            sentences = sentences or list(_sentences(store, profile.name, since, until))
            try:
                summary["language_model_summary"] = summarize_with(model, profile.name, sentences)
            except LanguageModelUnavailable as exc:
                summary["language_model_note"] = (
                    f"The language model at {model.endpoint} gave no summary: {exc}. "
                    "This summary is extractive only."
                )
        return summary
    finally:
        index.close()
        store.close()


# -- rendering -------------------------------------------------------------------------------


def _clock(at: str, dated: bool = False) -> str:
    """An ISO time as HH:MM, or YYYY-MM-DD HH:MM when the period covers more than one day."""
    return f"{at[:10]} {at[11:16]}" if dated else at[11:16]


def _markdown_item(name: str, item: dict, dated: bool) -> str:
    when = _clock(item["at"], dated)
    if name == "action_items":
        extra = [f"owner: {item['owner']}"] if item.get("owner") else []
        extra += [f"due: {item['due']}"] if item.get("due") else []
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"- [ ] {item['text']}{tail} · {when}"
    if item.get("term") and name == "definitions":
        return f"- **{item['term']}**: {item['text']} · {when}"
    if item.get("term"):
        return f"- **{item['term']}**, first heard: {item['text']} · {when}"
    if item.get("names"):
        return f"- {', '.join(item['names'])}: {item['text']} · {when}"
    said = f"{item['speaker']}: " if item.get("speaker") else ""
    agreed = f" (agreed: {', '.join(item['agreed_by'])})" if item.get("agreed_by") else ""
    return f"- {when} {said}{item['text']}{agreed}"


def _markdown_sections(sections: list[dict], level: str, dated: bool) -> list[str]:
    lines = []
    for section in sections:
        lines += ["", f"{level} {section['title']}", ""]
        if section["items"]:
            lines += [_markdown_item(section["name"], item, dated) for item in section["items"]]
        else:
            lines.append("_Nothing this time._")
    return lines


def _yaml_value(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def render_markdown(summary: dict) -> str:
    """Markdown with YAML front matter, tidy in Obsidian and any Markdown viewer."""
    lines = [
        "---",
        f"profile: {_yaml_value(summary['profile'])}",
        f"period_start: {_yaml_value(summary['since'])}",
        f"period_end: {_yaml_value(summary['until'])}",
        f"generated: {_yaml_value(summary['generated'])}",
        f"generator: {_yaml_value(summary['generator'])}",
        f"tags: [earmark, {summary['profile']}]",
        "---",
        "",
        f"# {summary['profile'].capitalize()}: {summary['period']}",
    ]
    if summary["sentences"] == 0:
        lines += ["", "_Nothing was heard under this profile in this period._"]
    if summary.get("language_model_note"):
        lines += ["", f"> {summary['language_model_note']}"]
    if summary.get("language_model_summary"):
        lines += ["", "## Summary", "", summary["language_model_summary"]]
    dated = " to " in summary["period"]  # more than one day: items say which
    if len(summary.get("conversations", [])) > 1 and summary["roll_up"]:
        lines += ["", "## All conversations"]
        lines += _markdown_sections(summary["roll_up"], "###", dated)
    for conversation in summary.get("conversations", []):
        start, end = _clock(conversation["start"], dated), _clock(conversation["end"])
        speakers = ", ".join(s["name"] for s in conversation.get("speakers", []))
        lines += ["", f"## Conversation {start}–{end}" + (f" ({speakers})" if speakers else "")]
        lines += _markdown_sections(conversation["sections"], "###", dated)
    lines += _markdown_sections(summary.get("sections", []), "##", dated)
    lines += [
        "",
        "Each item ends with the time it was said: `earmark transcripts --around TIME` "
        "shows the conversation around it.",
        "",
    ]
    return "\n".join(lines)


def render_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def period_name(since: float, until: float) -> str:
    """The days a period covers, as its file is named: 2026-11-25, or 2026-11-12 to 2026-11-25."""
    first = datetime.fromtimestamp(since).strftime("%Y-%m-%d")
    last = datetime.fromtimestamp(max(since, until - 1)).strftime("%Y-%m-%d")
    return first if first == last else f"{first} to {last}"


def export_path(paths: Paths, profile: Profile, since: float, until: float, fmt: str) -> Path:
    """Where a period's summary goes: the same file for the same period."""
    folder = (
        Path(os.path.expanduser(profile.export.destination))
        if profile.export.destination
        else paths.data_dir / "exports"
    )
    return folder / profile.name / f"{period_name(since, until)}.{fmt}"


def write_export(path: Path, text: str) -> None:
    """Write atomically (0600), replacing an earlier export of the same period."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, text)


def export_period(
    paths: Paths,
    profile: Profile,
    since: float,
    until: float,
    fmt: str | None = None,
    *,
    skip_empty: bool = False,
) -> Path | None:
    """Summarize a period and write it to its file; returns the file (None when skipped)."""
    fmt = fmt or profile.export.format
    summary = summarize(paths, profile, since, until)
    if skip_empty and summary["sentences"] == 0:
        return None  # a schedule writes no note of a period nothing was heard in
    path = export_path(paths, profile, since, until, fmt)
    write_export(path, render_json(summary) if fmt == "json" else render_markdown(summary))
    return path
