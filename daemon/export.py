"""A profile's summary of a period: built from its transcripts, written as Markdown or JSON.

The sections come from the profile (`export.sections`, `export.custom_sections`); every item
keeps the time it was said, so `earmark transcripts --around TIME` finds it again. A period
always maps to the same file, so exporting it again rewrites that file.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

from daemon import __version__, extractors
from daemon.extractors import STOP_WORDS, Item, Sentence
from daemon.language_model import LanguageModelUnavailable, summarize_with
from daemon.paths import Paths, write_private
from daemon.profiles import SECTIONS, CustomSection, Profile
from daemon.search import SearchIndex
from daemon.store import Store
from daemon.timespec import iso

__all__ = [
    "summarize",
    "render_markdown",
    "render_json",
    "export_path",
    "write_export",
    "export_period",
]

_OUTLINE_BLOCK_S = 600  # the outline: one line per ten minutes of speech
_TOP = 5


def _sentences(store: Store, profile: str, since: float, until: float) -> list[Sentence]:
    sentences = []
    for segment in store.segments(
        profiles=[profile], since=since, until=until, include_flagged=False
    ):
        duration = segment.end - segment.start
        sentences += extractors.split_sentences(segment.text, segment.start, duration)
    return sentences


def _custom_patterns(section: CustomSection) -> list[re.Pattern]:
    phrases = [re.compile(rf"\b{re.escape(t)}\b", re.I) for t in section.triggers]
    return phrases + [re.compile(p, re.I) for p in section.patterns]


def _outline(sentences: list[Sentence]) -> list[Item]:
    """For each ten minutes that had speech, its most central sentence."""
    blocks: dict[int, list[Sentence]] = {}
    for s in sentences:
        blocks.setdefault(int(s.at // _OUTLINE_BLOCK_S), []).append(s)
    return [extractors.highlights(block, count=1)[0] for _, block in sorted(blocks.items())]


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


def _section(
    name: str, sentences: list[Sentence], profile: Profile, index: SearchIndex
) -> list[Item]:
    if name == "highlights":
        return extractors.highlights(sentences, count=_TOP)
    if name == "action_items":
        return extractors.action_items(sentences)
    if name == "decisions":
        return extractors.decisions(sentences)
    if name == "questions":
        return extractors.questions(sentences)
    if name == "definitions":
        return extractors.definitions(sentences)
    if name == "mentions":
        return extractors.mentions(sentences, known=profile.transcription.vocabulary)
    if name == "outline":
        return _outline(sentences)
    if name == "timeline":
        return [Item(s.text.strip(), s.at) for s in sentences]
    if name == "key_terms":
        return _key_terms(index, sentences)
    raise ValueError(f"unknown section {name!r}")


def _item_dict(item: Item) -> dict:
    data = {"text": item.text, "at": iso(item.at)}
    for key in ("owner", "due", "term"):
        if getattr(item, key):
            data[key] = getattr(item, key)
    if item.names:
        data["names"] = list(item.names)
    return data


def _sections(sentences: list[Sentence], profile: Profile, index: SearchIndex) -> list[dict]:
    wanted = [n for n in profile.export.sections if n != "conversations"]
    sections = [
        {
            "name": n,
            "title": SECTIONS[n],
            "items": [_item_dict(i) for i in _section(n, sentences, profile, index)],
        }
        for n in wanted
    ]
    for custom in profile.export.custom_sections:
        items = extractors.matching(sentences, _custom_patterns(custom))
        sections.append(
            {"name": custom.title, "title": custom.title, "items": [_item_dict(i) for i in items]}
        )
    return sections


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
        sentences = _sentences(store, profile.name, since, until)
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
        model = profile.export.language_model
        if model.endpoint and sentences:
            try:
                summary["language_model_summary"] = summarize_with(model, profile.name, sentences)
            except LanguageModelUnavailable as exc:
                summary["language_model_note"] = (
                    f"The language model at {model.endpoint} gave no summary: {exc}. "
                    "This summary is extractive only."
                )
        if "conversations" in profile.export.sections:
            gap = profile.export.conversation_gap_min * 60
            summary["conversations"] = [
                {
                    "start": iso(group[0].at),
                    "end": iso(group[-1].at),
                    "sections": _sections(group, profile, index),
                }
                for group in extractors.conversations(sentences, gap_s=gap)
            ]
            summary["roll_up"] = _roll_up(summary["conversations"])
        else:
            summary["sections"] = _sections(sentences, profile, index)
        return summary
    finally:
        index.close()
        store.close()


# -- rendering -------------------------------------------------------------------------------


def _clock(at: str) -> str:
    return at[11:16]


def _markdown_item(name: str, item: dict) -> str:
    when = _clock(item["at"])
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
    return f"- {when} {item['text']}"


def _markdown_sections(sections: list[dict], level: str) -> list[str]:
    lines = []
    for section in sections:
        lines += ["", f"{level} {section['title']}", ""]
        if section["items"]:
            lines += [_markdown_item(section["name"], item) for item in section["items"]]
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
    if len(summary.get("conversations", [])) > 1 and summary["roll_up"]:
        lines += ["", "## All conversations"]
        lines += _markdown_sections(summary["roll_up"], "###")
    for conversation in summary.get("conversations", []):
        start, end = _clock(conversation["start"]), _clock(conversation["end"])
        lines += ["", f"## Conversation {start}–{end}"]
        lines += _markdown_sections(conversation["sections"], "###")
    lines += _markdown_sections(summary.get("sections", []), "##")
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
