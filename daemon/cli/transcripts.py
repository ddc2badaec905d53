"""Commands on transcripts: search them, import recordings and transcripts into them, print
them in time order."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from daemon.cli.shared import (
    active_profile,
    add_command,
    add_period,
    add_scope,
    print_json,
    profiles_in_scope,
    read_period,
    setup_logging,
    user_paths,
    within,
)
from daemon.core import control
from daemon.core.errors import DaemonNotRunning, EarmarkError
from daemon.core.timespec import iso, parse_span

__all__ = ["add_commands"]

_AROUND_S = 180


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "search",
        cmd_search,
        'search transcripts: words, "phrases", -exclusions, speaker:NAME, source:NAME',
        json_flag=True,
    )
    p.add_argument("query", nargs="+", help="what to look for")
    add_scope(p)
    add_period(p)
    p.add_argument("--limit", type=int, default=10, metavar="N", help="at most N hits (10)")
    p.add_argument("--newest", action="store_true", help="newest first instead of by relevance")

    p = add_command(
        sub,
        "import",
        cmd_import,
        "transcribe recordings (wav, flac, mp3, ogg, m4a, ...) or file transcripts"
        " (WebVTT, SRT, 'Name: words' text)",
        json_flag=True,
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--profile", metavar="NAME", help="profile to file them under")
    p.add_argument(
        "--at",
        metavar="TIME",
        help="when the recording or transcript starts (default: file time minus its length)",
    )

    p = add_command(
        sub, "transcripts", cmd_transcripts, "print transcripts in time order", json_flag=True
    )
    add_scope(p)
    add_period(p)
    p.add_argument("--around", metavar="TIME", help="three minutes either side of TIME (14:32)")
    p.add_argument(
        "--flagged",
        action="store_true",
        help="include segments flagged as likely invented by the model",
    )


def _bold(text: str) -> str:
    if sys.stdout.isatty():
        parts = text.split("**")
        return "".join(f"\033[1m{p}\033[0m" if i % 2 else p for i, p in enumerate(parts))
    return text


def cmd_search(args) -> int:
    from daemon.storage.search import Hit, search_profiles

    paths = user_paths()
    profiles = profiles_in_scope(args, paths)
    if args.limit < 1:
        raise EarmarkError(f"--limit {args.limit}: expected a whole number of at least 1")
    since, until = read_period(args)
    query = {
        "query": " ".join(args.query),
        "since": since,
        "until": until,
        "limit": args.limit,
        "newest_first": args.newest,
    }
    try:  # the running daemon keeps the indexes open
        found = control.request(paths.control_socket, "search", profiles=profiles, **query)
        hits = [Hit(**hit) for hit in found]
    except DaemonNotRunning:
        text = query.pop("query")
        hits = search_profiles(paths.index_dir, profiles, text, **query)
    if args.json:
        print_json(
            [
                {
                    "text": h.text,
                    "snippet": h.snippet,
                    "start": iso(h.start),
                    "end": iso(h.end),
                    "profile": h.profile,
                    "source": h.source,
                    "speaker": h.speaker,
                    "score": h.score,
                    "confidence": h.confidence,
                    "segment_id": h.segment_id,
                }
                for h in hits
            ]
        )
        return 0
    if not hits:
        print(f"no matches{within(since, until)}", file=sys.stderr)
        return 0
    for h in hits:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.start))
        said = f"{h.speaker}: " if h.speaker else ""
        print(f"{when}  {h.profile}/{h.source}  {said}{_bold(h.snippet)}")
    return 0


def cmd_import(args) -> int:
    from daemon.transcribe.importer import import_files

    paths = user_paths()
    setup_logging(args.debug)
    logging.getLogger().setLevel(logging.DEBUG if args.debug else logging.WARNING)
    at = parse_span(args.at, what="--at")[0] if args.at else None
    profile = args.profile or active_profile(paths)
    show = sys.stderr.isatty() and not args.json

    def progress(name: str, fraction: float) -> None:
        if show:
            filled = int(fraction * 30)
            sys.stderr.write(
                f"\r{name[:40]:<40} [{'#' * filled}{'.' * (30 - filled)}] {fraction:4.0%}"
            )
            if fraction >= 1.0:
                sys.stderr.write("\n")
            sys.stderr.flush()

    results = import_files(
        paths, [Path(f) for f in args.files], profile=profile, at=at, progress=progress
    )
    if args.json:
        print_json(
            [
                {
                    "file": r.file,
                    "ok": r.ok,
                    "error": r.error,
                    "kind": "transcript" if r.transcript else "recording",
                    "utterances": r.utterances,
                    "duration_s": round(r.duration_s, 3),
                    "start": iso(r.start) if r.start is not None else None,
                    "profile": profile,
                    "speakers": r.speakers,
                    "skipped": r.skipped,
                    "left_out": r.left_out,
                    "note": r.note,
                }
                for r in results
            ]
        )
    else:
        for r in results:
            if r.ok:
                print(_imported(r))
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"earmark: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _imported(r) -> str:
    """One line on what an import stored."""
    if r.skipped:
        return f"{r.file}: {r.skipped}"
    if not r.transcript:
        plural = "" if r.utterances == 1 else "s"
        line = f"{r.file}: {r.utterances} utterance{plural} from {r.duration_s:.1f} s of audio"
        return line + (f"; {r.note}" if r.note else "")
    speakers = len(r.speakers)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.start))
    line = (
        f"{r.file}: {r.utterances} turn{'' if r.utterances == 1 else 's'}"
        + (f" by {speakers} speaker{'' if speakers == 1 else 's'}" if speakers else "")
        + f", {r.duration_s / 60:.1f} min from {when}"
    )
    if r.left_out:
        line += f"; {r.left_out} left out, in spans you asked to forget"
    if r.note:
        line += f"; {r.note}"
    return line


def cmd_transcripts(args) -> int:
    from daemon.storage.store import Store

    paths = user_paths()
    profiles = profiles_in_scope(args, paths)
    since, until = read_period(args)
    if args.around:
        if args.since or args.until:
            raise EarmarkError("--around names its own period: expected it without --since/--until")
        moment = parse_span(args.around, what="--around")[0]
        since, until = moment - _AROUND_S, moment + _AROUND_S
    segments = Store(paths.database).segments.find(
        profiles=profiles, since=since, until=until, include_flagged=args.flagged
    )
    if args.json:
        print_json(
            [
                {
                    "id": s.id,
                    "text": s.text,
                    "start": iso(s.start),
                    "end": iso(s.end),
                    "profile": s.profile,
                    "source": s.source,
                    "speaker": s.speaker,
                    "confidence": s.confidence,
                    "avg_logprob": s.avg_logprob,
                    "no_speech_prob": s.no_speech_prob,
                    "compression_ratio": s.compression_ratio,
                    "flag": s.flag,
                }
                for s in segments
            ]
        )
        return 0
    if not segments:
        print(f"no transcripts{within(since, until)}", file=sys.stderr)
    for s in segments:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.start))
        flag = f"  [flagged: {s.flag}]" if s.flag else ""
        said = f"{s.speaker}: " if s.speaker else ""
        print(f"{when}  {s.profile}/{s.source}  {said}{s.text}{flag}")
    return 0
