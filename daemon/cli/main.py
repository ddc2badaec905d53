"""The `earmark` command: parses, calls the library, prints. Errors become one sentence, exit 1."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from daemon import __version__
from daemon.core import control
from daemon.core.errors import DaemonNotRunning, EarmarkError
from daemon.core.paths import Paths, private_umask
from daemon.core.profiles import list_profiles, load_profile, load_profile_file
from daemon.core.recording_state import RecordingState
from daemon.core.timespec import iso, parse_duration, parse_since, parse_span, parse_until

__all__ = ["main"]

log = logging.getLogger("daemon")

_AROUND_S = 180


# -- helpers ------------------------------------------------------------------------------


def _paths() -> Paths:
    return Paths.from_environment().ensure()


def _print_json(value) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _active_profile(paths: Paths) -> str:
    return RecordingState.load(paths.state_file).profile


def _bold(text: str) -> str:
    if sys.stdout.isatty():
        parts = text.split("**")
        return "".join(f"\033[1m{p}\033[0m" if i % 2 else p for i, p in enumerate(parts))
    return text


def _setup_logging(debug: bool, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(RotatingFileHandler(log_file, maxBytes=5 * 1024**2, backupCount=3))
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format=fmt, handlers=handlers, force=True
    )
    logging.getLogger("faster_whisper").setLevel(logging.DEBUG if debug else logging.WARNING)


def _scope(args, paths: Paths) -> list[str]:
    """The profiles a read command looks at: one (known by its file or its data), or all."""
    from daemon.storage.store import Store

    names = set(list_profiles(paths.profiles_dir))
    name = None if getattr(args, "all", False) else args.profile or _active_profile(paths)
    if name in names:
        return [name]  # known by its file: no need to ask the store
    names.update(Store(paths.database).utterances.profiles())
    if name is None:
        return sorted(names)
    if name not in names:
        load_profile(name, paths.profiles_dir)  # says which profiles there are
    return [name]


# -- commands -----------------------------------------------------------------------------


def cmd_run(args) -> int:
    from daemon.service.daemon import Daemon

    paths = _paths()
    _setup_logging(args.debug, paths.log_file)
    if args.profile:
        load_profile(args.profile, paths.profiles_dir)
    desktop = None
    if not args.headless:
        from daemon.desktop.app import Desktop, display_problem

        problem = display_problem()
        if problem:
            print(f"earmark: {problem}; running headless", file=sys.stderr)
        else:
            desktop = Desktop
    Daemon(paths, profile=args.profile, device=args.device, desktop=desktop).run()
    return 0


def cmd_status(args) -> int:
    paths = _paths()
    try:
        status = control.request(paths.control_socket, "status")
    except DaemonNotRunning:
        from daemon.storage.spool import Spool

        status = {
            "state": "not running",
            "profile": _active_profile(paths),
            "source": None,
            "backlog": len(Spool(paths.spool_dir)),
            "model": None,
        }
    if args.json:
        _print_json(status)
        return 0
    print(f"state:    {status['state']}")
    print(f"profile:  {status['profile']}")
    if status.get("source"):
        reason = f" ({status['source_reason']})" if status.get("source_reason") else ""
        print(f"source:   {status['source']}{reason}")
    if len(status.get("inputs") or []) > 1:
        inputs = [
            i["input"] + (" (on)" if i["active"] else " (passed over)" if i["passed_over"] else "")
            for i in status["inputs"]
        ]
        print(f"inputs:   {', then '.join(inputs)}")
    for switch in (status.get("switches") or [])[-3:]:
        at = time.strftime("%H:%M:%S", time.localtime(switch["at"]))
        print(f"switched: {at} from {switch['from']} to {switch['to']} ({switch['reason']})")
    wearables = status.get("wearables") or {}
    if wearables.get("url") or wearables.get("error"):
        streams = ", ".join(
            f"{w['source']} ({w['reason'] if w['state'] != 'listening' else 'streaming'})"
            for w in wearables.get("streams", [])
        )
        where = wearables.get("url") or wearables["error"]
        print(f"wearables: {where}" + (f"; {streams}" if streams else ""))
    print(f"backlog:  {status['backlog']} utterances waiting for transcription")
    if status.get("model"):
        print(f"model:    {status['model']} ({status['model_state']})")
    if status.get("error"):
        print(f"error:    {status['error']}")
    if status.get("problem"):
        print(f"problem:  {status['problem']}")
    for note in status.get("notes") or []:
        print(f"note:     {note}")
    return 0


def _print_state(status: dict) -> None:
    print(f"earmark: {status['state']} (profile {status['profile']})")


def cmd_toggle(args) -> int:
    _print_state(control.request(_paths().control_socket, "toggle"))
    return 0


def cmd_pause(args) -> int:
    seconds = parse_duration(args.duration, what="--for") if args.duration else None
    _print_state(control.request(_paths().control_socket, "pause", seconds=seconds))
    return 0


def cmd_resume(args) -> int:
    _print_state(control.request(_paths().control_socket, "resume"))
    return 0


def cmd_forget(args) -> int:
    seconds = parse_duration(args.last, what="--last")
    paths = _paths()
    if not args.yes:
        if not sys.stdin.isatty():
            raise EarmarkError(f"forget --last {args.last}: add --yes to confirm (no terminal)")
        answer = input(
            f"Forget everything heard in the last {args.last} (audio, transcripts, search)? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing forgotten")
            return 1
    try:
        result = control.request(paths.control_socket, "forget", seconds=seconds, timeout=120)
        count = result["forgotten"]
    except DaemonNotRunning:
        from daemon.storage.forgetting import Forgetter
        from daemon.storage.spool import Spool
        from daemon.storage.store import Store

        forgetter = Forgetter(
            store=Store(paths.database), spool=Spool(paths.spool_dir), index_root=paths.index_dir
        )
        now = time.time()
        count = forgetter.forget(now - seconds, now)
    print(f"forgot {count} utterance{'s' if count != 1 else ''} heard in the last {args.last}")
    return 0


def cmd_stop(args) -> int:
    control.request(_paths().control_socket, "stop")
    print("earmark is stopping")
    return 0


def _period(args, *, since: float | None = None, until: float | None = None):
    """--since and --until (or the defaults given); EarmarkError for a period that ends before
    it starts, the same sentence for every command."""
    since = parse_since(args.since) if args.since else since
    until = parse_until(args.until) if args.until else until
    if since is not None and until is not None and until <= since:
        raise EarmarkError(
            f"the period ends ({_minute(until)}) before it starts ({_minute(since)}): expected "
            "--until after --since"
        )
    return since, until


def _minute(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def _within(since: float | None, until: float | None) -> str:
    """' between A and B' (or ' since A', ' until B') for a sentence saying nothing was found."""
    if since is not None and until is not None:
        return f" between {_minute(since)} and {_minute(until)}"
    if since is not None:
        return f" since {_minute(since)}"
    return f" until {_minute(until)}" if until is not None else ""


def cmd_search(args) -> int:
    from daemon.storage.search import Hit, search_profiles

    paths = _paths()
    profiles = _scope(args, paths)
    if args.limit < 1:
        raise EarmarkError(f"--limit {args.limit}: expected a whole number of at least 1")
    since, until = _period(args)
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
        _print_json(
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
        print(f"no matches{_within(since, until)}", file=sys.stderr)
        return 0
    for h in hits:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.start))
        said = f"{h.speaker}: " if h.speaker else ""
        print(f"{when}  {h.profile}/{h.source}  {said}{_bold(h.snippet)}")
    return 0


def cmd_import(args) -> int:
    from daemon.transcribe.importer import import_files

    paths = _paths()
    _setup_logging(args.debug)
    logging.getLogger().setLevel(logging.DEBUG if args.debug else logging.WARNING)
    at = parse_span(args.at, what="--at")[0] if args.at else None
    profile = args.profile or _active_profile(paths)
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
        _print_json(
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

    paths = _paths()
    profiles = _scope(args, paths)
    since, until = _period(args)
    if args.around:
        if args.since or args.until:
            raise EarmarkError("--around names its own period: expected it without --since/--until")
        moment = parse_span(args.around, what="--around")[0]
        since, until = moment - _AROUND_S, moment + _AROUND_S
    segments = Store(paths.database).segments.find(
        profiles=profiles, since=since, until=until, include_flagged=args.flagged
    )
    if args.json:
        _print_json(
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
        print(f"no transcripts{_within(since, until)}", file=sys.stderr)
    for s in segments:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.start))
        flag = f"  [flagged: {s.flag}]" if s.flag else ""
        said = f"{s.speaker}: " if s.speaker else ""
        print(f"{when}  {s.profile}/{s.source}  {said}{s.text}{flag}")
    return 0


def cmd_export(args) -> int:
    from daemon.summaries.export import (
        export_period,
        render_json,
        render_markdown,
        summarize,
        write_export,
    )

    paths = _paths()
    profiles = _scope(args, paths)
    if args.output and len(profiles) > 1:
        raise EarmarkError("-o names one file; with --all each profile gets its own")
    now = time.time()
    since, until = _period(args, since=parse_span("today", now=now)[0], until=now)
    for name in profiles:
        profile = load_profile(name, paths.profiles_dir)
        if not args.output:
            print(f"{name}: {export_period(paths, profile, since, until, args.format)}")
            continue
        summary = summarize(paths, profile, since, until)
        fmt = args.format or profile.export.format
        text = render_json(summary) if fmt == "json" else render_markdown(summary)
        if args.output == "-":
            sys.stdout.write(text)
        else:
            write_export(Path(args.output), text)
            print(f"{name}: {args.output}")
    return 0


def cmd_retention(args) -> int:
    from daemon.storage.forgetting import Forgetter
    from daemon.storage.retention import enforce_retention
    from daemon.storage.spool import Spool
    from daemon.storage.store import Store

    paths = _paths()
    store = Store(paths.database)
    forgetter = Forgetter(store=store, spool=Spool(paths.spool_dir), index_root=paths.index_dir)
    expired = enforce_retention(store, forgetter, paths.profiles_dir)
    if args.json:
        _print_json([e.__dict__ for e in expired])
    elif not expired:
        print("nothing has expired")
    for e in [] if args.json else expired:
        print(f"{e.profile}: {e.transcripts} transcripts and {e.audio_files} audio files expired")
    return 0


def cmd_reindex(args) -> int:
    from daemon.storage.search import SearchIndex
    from daemon.storage.store import Store

    paths = _paths()
    store = Store(paths.database)
    profiles = _scope(args, paths) if (args.profile or args.all) else store.utterances.profiles()
    report = []
    for profile in profiles:
        started = time.perf_counter()
        count = SearchIndex(paths.index_dir, profile).rebuild(store)
        seconds = time.perf_counter() - started
        report.append({"profile": profile, "segments": count, "seconds": round(seconds, 2)})
        if not args.json:
            print(f"{profile}: {count} segments indexed in {seconds:.1f} s")
    if args.json:
        _print_json(report)
    return 0


def cmd_ledger(args) -> int:
    from daemon.capture.ledger import minutes
    from daemon.storage.store import Store

    until = parse_until(args.until) if args.until else time.time()
    since, until = _period(args, since=until - 3600, until=until)
    rows = minutes(Store(_paths().database), since, until)
    if args.json:
        for r in rows:
            r["minute"] = iso(r["minute"])
            r["switches"] = [{**s, "at": iso(s["at"])} for s in r["switches"]]
        _print_json(rows)
        return 0
    if not rows:
        print(f"the ledger holds nothing{_within(since, until)}", file=sys.stderr)
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["minute"]))
        parts = [f"listening to {k} {v:.0f}s" for k, v in r["listening"].items()]
        parts += [f"gap ({k}) {v:.0f}s" for k, v in r["gaps"].items()]
        parts += [f"speech from {k} {v:.0f}s" for k, v in r["speech"].items()]
        parts += [f"transcription server {k} {v:.0f}s" for k, v in r["server_away"].items()]
        parts += [
            f"{time.strftime('%H:%M:%S', time.localtime(s['at']))} to {s['to']}, {s['why']}"
            for s in r["switches"]
        ]
        print(f"{when}  " + "; ".join(parts))
    return 0


def cmd_doctor(args) -> int:
    from daemon.service.doctor import FAIL, run_checks

    paths = _paths()
    log.addHandler(logging.NullHandler())  # what a check finds is in its verdict, not a log line
    checks = run_checks(paths, profile=args.profile or _active_profile(paths))
    if args.json:
        _print_json([c.__dict__ for c in checks])
    else:
        for c in checks:
            print(f"{c.verdict.upper():8} {c.name}: {c.detail}")
    return 1 if any(c.verdict == FAIL for c in checks) else 0


def cmd_autostart(args) -> int:
    from daemon.service import autostart

    if args.action == "enable":
        entry, todo = autostart.enable(headless=args.headless)
        print(f"earmark starts with your session: {entry.kind} {entry.path}")
        if todo:
            print(f"note: {todo}")
    elif args.action == "disable":
        removed = autostart.disable()
        for entry in removed:
            print(f"removed {entry.kind} {entry.path}")
        if not removed:
            print("earmark was not set to start with your session")
    else:
        found = [e for e in autostart.entries() if e.installed]
        if args.json:
            _print_json(
                [{"kind": e.kind, "path": str(e.path), "headless": e.headless} for e in found]
            )
        elif found:
            for e in found:
                print(f"enabled: {e.kind} {e.path}")
        else:
            print("disabled: earmark does not start with your session")
    return 0


def cmd_profile(args) -> int:
    paths = _paths()
    if args.action == "list":
        active = _active_profile(paths)
        names = list_profiles(paths.profiles_dir)
        if args.json:
            _print_json([{"name": n, "active": n == active} for n in names])
        else:
            for n in names:
                print(("* " if n == active else "  ") + n)
        return 0
    if args.action == "check":
        if not args.target:
            raise EarmarkError("profile check needs a FILE to check")
        profile = load_profile_file(Path(args.target))
        print(f"{args.target}: a valid profile named {profile.name!r}")
        return 0
    if not args.target:
        raise EarmarkError(f"profile {args.action} needs a profile NAME")
    profile = load_profile(args.target, paths.profiles_dir)
    if args.action == "show":
        from dataclasses import asdict

        _print_json(asdict(profile))
    elif args.action == "use":
        try:
            control.request(paths.control_socket, "use_profile", name=profile.name)
            print(f"earmark: now filing what is heard under {profile.name}")
        except DaemonNotRunning:
            RecordingState.load(paths.state_file).using(profile.name).save(paths.state_file)
            print(f"earmark: not running; {profile.name} will be used when it starts")
    return 0


def cmd_pair(args) -> int:
    paths = _paths()
    if args.profile:
        load_profile(args.profile, paths.profiles_dir)
    try:
        answer = control.request(paths.control_socket, "pair", name=args.name, profile=args.profile)
    except DaemonNotRunning:
        raise EarmarkError("Earmark is not running; start it (earmark run) to pair") from None
    code = f"{answer['code'][:4]}-{answer['code'][4:]}"
    if args.json:
        _print_json({**answer, "code": code})
        return 0
    import segno

    minutes = round((answer["expires"] - time.time()) / 60)
    pin = answer.get("fingerprint")
    print(f"Pairing code for {answer['name']!r}: {code} (valid {minutes} minutes, once)")
    print(
        f"On the device:  earmark wearable --server {answer['url']} --code {code}"
        + (f" --fingerprint {pin}" if pin else "")
    )
    uri = f"earmark-pair:{answer['url']}?code={answer['code']}" + (f"&fp={pin}" if pin else "")
    segno.make(uri, micro=False).terminal(compact=True)
    return 0


def cmd_devices(args) -> int:
    from daemon.capture.sources.microphone import list_input_devices
    from daemon.storage.store import Store

    paths = _paths()
    store = Store(paths.database)
    try:
        if args.action == "revoke":
            if not args.name:
                raise EarmarkError("devices revoke needs the NAME of a paired device")
            if not store.wearables.revoke(args.name, time.time()):
                paired = sorted({w.name for w in store.wearables.all() if w.revoked is None})
                raise EarmarkError(
                    f"no paired device is named {args.name!r} (paired: "
                    f"{', '.join(paired) or 'none'})"
                )
            print(f"earmark: {args.name} is revoked; its requests are refused from now on")
            return 0
        paired = [
            {
                "name": w.name,
                "id": w.id,
                "profile": w.profile,
                "paired": iso(w.paired),
                "last_seen": iso(w.last_seen) if w.last_seen else None,
                "revoked": iso(w.revoked) if w.revoked else None,
            }
            for w in store.wearables.all()
        ]
    finally:
        store.close()
    try:
        inputs = list_input_devices()
    except OSError:  # no PortAudio
        inputs = []
    if args.json:
        _print_json({"inputs": inputs, "paired": paired})
        return 0
    print("Input devices (name a profile source by any part of the name):")
    for d in inputs:
        label = d["name"] if d["kind"] == "portaudio" else f"{d['name']} ({d['description']})"
        print(f"  {label}")
    if not inputs:
        print("  none found")
    print("Paired wearables:")
    for w in paired:
        state = (
            f"revoked {w['revoked']}" if w["revoked"] else f"last seen {w['last_seen'] or 'never'}"
        )
        print(f"  {w['name']}  ({w['id']}, paired {w['paired']}, {state})")
    if not paired:
        print("  none (earmark pair --name NAME)")
    return 0


def cmd_wearable(args) -> int:
    import signal
    import threading

    from daemon.capture.sources.microphone import Microphone
    from daemon.wearable.client import (
        Credentials,
        OfflineBuffer,
        WearableClient,
        normal_fingerprint,
        pair,
    )

    paths = _paths()
    _setup_logging(args.debug)
    credentials_path = paths.config_dir / "wearable-client.json"
    if args.code:
        name = pair(
            args.server,
            args.code,
            credentials_path,
            cafile=args.cafile,
            fingerprint=normal_fingerprint(args.fingerprint) if args.fingerprint else None,
            insecure=args.insecure,
        )
        print(f"earmark: paired with {args.server} as {name!r}", flush=True)
    credentials = Credentials.load(credentials_path)
    if credentials is None or credentials.server.rstrip("/") != args.server.rstrip("/"):
        raise EarmarkError(
            f"this device is not paired with {args.server}; run `earmark pair --name NAME` "
            "where the daemon runs and pass the code here with --code"
        )
    client = WearableClient(
        credentials,
        OfflineBuffer(paths.data_dir / "wearable-buffer"),
        cafile=args.cafile,
        opus=args.opus,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client.run(Microphone(args.device), stop)
    return 0


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="earmark",
        description="Earmark hears, transcribes locally and files what was said under a profile.",
    )
    parser.add_argument("--version", action="version", version=f"earmark {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func, help_text: str, *, json_flag: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON")
        return p

    def scope(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument(
            "--profile", metavar="NAME", help="this profile (default: the active one)"
        )
        group.add_argument("--all", action="store_true", help="every profile")

    def period(p: argparse.ArgumentParser) -> None:
        p.add_argument("--since", metavar="TIME", help="e.g. 2h, 3d, yesterday, 2026-11-25")
        p.add_argument("--until", metavar="TIME", help="same forms as --since")

    p = add("run", cmd_run, "run the daemon in the foreground until Ctrl-C or SIGTERM")
    p.add_argument("--headless", action="store_true", help="no tray icon")
    p.add_argument("--profile", metavar="NAME", help="profile to record under")
    p.add_argument("--device", metavar="NAME", help="input device: a name substring or index")

    add("status", cmd_status, "show what the daemon is doing", json_flag=True)
    add("stop", cmd_stop, "ask the running daemon to finish and stop")
    add("toggle", cmd_toggle, "turn recording off, or back on")
    p = add("pause", cmd_pause, "pause recording, until resumed or for a while")
    p.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 15m or 1h")
    add("resume", cmd_resume, "resume recording after a pause or toggle")
    p = add("forget", cmd_forget, "delete the audio, transcripts and index entries of a span")
    p.add_argument("--last", required=True, metavar="DURATION", help="e.g. 5m or 1h")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add(
        "search",
        cmd_search,
        'search transcripts: words, "phrases", -exclusions, speaker:NAME, source:NAME',
        json_flag=True,
    )
    p.add_argument("query", nargs="+", help="what to look for")
    scope(p)
    period(p)
    p.add_argument("--limit", type=int, default=10, metavar="N", help="at most N hits (10)")
    p.add_argument("--newest", action="store_true", help="newest first instead of by relevance")

    p = add(
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

    p = add("transcripts", cmd_transcripts, "print transcripts in time order", json_flag=True)
    scope(p)
    period(p)
    p.add_argument("--around", metavar="TIME", help="three minutes either side of TIME (14:32)")
    p.add_argument(
        "--flagged",
        action="store_true",
        help="include segments flagged as likely invented by the model",
    )

    p = add("export", cmd_export, "write the profile's summary of a period (today by default)")
    scope(p)
    period(p)
    p.add_argument("--format", choices=["md", "json"], help="default: the profile's")
    p.add_argument("-o", "--output", metavar="PATH", help="this file (- for standard output)")

    add(
        "retention",
        cmd_retention,
        "delete what each profile keeps no longer (the daemon does this daily)",
        json_flag=True,
    )

    p = add("reindex", cmd_reindex, "rebuild search indexes from the store", json_flag=True)
    scope(p)

    p = add(
        "ledger",
        cmd_ledger,
        "minute by minute: what was listened to, and every gap",
        json_flag=True,
    )
    period(p)

    p = add(
        "doctor",
        cmd_doctor,
        "check devices, model, vocabulary, folders and permissions",
        json_flag=True,
    )
    p.add_argument("--profile", metavar="NAME", help="check this profile's model and vocabulary")

    p = add(
        "autostart",
        cmd_autostart,
        "start earmark with your session, or stop doing so",
        json_flag=True,
    )
    p.add_argument("action", choices=["enable", "disable", "status"])
    p.add_argument("--headless", action="store_true", help="Linux: a systemd user unit, no tray")

    p = add("pair", cmd_pair, "pair a network wearable: show a one-time code", json_flag=True)
    p.add_argument("--name", required=True, help="what to call the device (its source name)")
    p.add_argument("--profile", metavar="NAME", help="file its audio here (default: the active)")

    p = add(
        "devices",
        cmd_devices,
        "list input devices and paired wearables, or revoke a wearable",
        json_flag=True,
    )
    p.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
    p.add_argument("name", nargs="?", metavar="NAME", help="the wearable to revoke")

    p = add(
        "wearable",
        cmd_wearable,
        "be a wearable: stream this machine's microphone to a daemon, buffering when away",
    )
    p.add_argument("--server", required=True, metavar="URL", help="the daemon, http://HOST:PORT")
    p.add_argument("--code", metavar="CODE", help="pair first with the code `earmark pair` shows")
    p.add_argument("--device", metavar="NAME", help="input device: a name substring or index")
    p.add_argument("--cafile", metavar="PEM", help="trust this certificate (a TLS daemon's own)")
    p.add_argument(
        "--fingerprint", metavar="SHA256", help="pair only with a daemon showing this certificate"
    )
    p.add_argument("--insecure", action="store_true", help="pair over plain HTTP beyond loopback")
    p.add_argument("--opus", action="store_true", help="send Opus: about a ninth of the bytes")

    p = add("profile", cmd_profile, "list, show, check or use profiles", json_flag=True)
    p.add_argument("action", choices=["list", "show", "check", "use"])
    p.add_argument("target", nargs="?", metavar="NAME|FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    private_umask()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EarmarkError as exc:
        if args.debug:
            raise
        print(f"earmark: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
