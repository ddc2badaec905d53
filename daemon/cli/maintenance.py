"""Looking after Earmark: retention, reindexing, the ledger of what was listened to, doctor's
checks, and starting with the session."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from daemon.cli.shared import (
    active_profile,
    add_command,
    add_period,
    add_scope,
    print_json,
    profiles_in_scope,
    read_period,
    user_paths,
    within,
)
from daemon.core.timespec import iso, parse_until

__all__ = ["add_commands"]

log = logging.getLogger("daemon")


def add_commands(sub: argparse._SubParsersAction) -> None:
    add_command(
        sub,
        "retention",
        cmd_retention,
        "delete what each profile keeps no longer (the daemon does this daily)",
        json_flag=True,
    )

    p = add_command(
        sub, "reindex", cmd_reindex, "rebuild search indexes from the store", json_flag=True
    )
    add_scope(p)

    p = add_command(
        sub,
        "ledger",
        cmd_ledger,
        "minute by minute: what was listened to, and every gap",
        json_flag=True,
    )
    add_period(p)

    p = add_command(
        sub,
        "doctor",
        cmd_doctor,
        "check devices, model, vocabulary, folders and permissions",
        json_flag=True,
    )
    p.add_argument("--profile", metavar="NAME", help="check this profile's model and vocabulary")

    p = add_command(
        sub,
        "autostart",
        cmd_autostart,
        "start earmark with your session, or stop doing so",
        json_flag=True,
    )
    p.add_argument("action", choices=["enable", "disable", "status"])
    p.add_argument("--headless", action="store_true", help="Linux: a systemd user unit, no tray")


def cmd_retention(args) -> int:
    from daemon.storage.forgetting import Forgetter
    from daemon.storage.retention import enforce_retention
    from daemon.storage.spool import Spool
    from daemon.storage.store import Store

    paths = user_paths()
    store = Store(paths.database)
    forgetter = Forgetter(store=store, spool=Spool(paths.spool_dir), index_root=paths.index_dir)
    expired = enforce_retention(store, forgetter, paths.profiles_dir)
    if args.json:
        print_json([e.__dict__ for e in expired])
    elif not expired:
        print("nothing has expired")
    for e in [] if args.json else expired:
        print(f"{e.profile}: {e.transcripts} transcripts and {e.audio_files} audio files expired")
    return 0


def cmd_reindex(args) -> int:
    from daemon.storage.search import SearchIndex
    from daemon.storage.store import Store

    paths = user_paths()
    store = Store(paths.database)
    profiles = (
        profiles_in_scope(args, paths)
        if (args.profile or args.all)
        else store.utterances.profiles()
    )
    report = []
    for profile in profiles:
        started = time.perf_counter()
        count = SearchIndex(paths.index_dir, profile).rebuild(store)
        seconds = time.perf_counter() - started
        report.append({"profile": profile, "segments": count, "seconds": round(seconds, 2)})
        if not args.json:
            print(f"{profile}: {count} segments indexed in {seconds:.1f} s")
    if args.json:
        print_json(report)
    return 0


def cmd_ledger(args) -> int:
    from daemon.capture.ledger import minutes
    from daemon.storage.store import Store

    until = parse_until(args.until) if args.until else time.time()
    since, until = read_period(args, since=until - 3600, until=until)
    rows = minutes(Store(user_paths().database), since, until)
    if args.json:
        for r in rows:
            r["minute"] = iso(r["minute"])
            r["switches"] = [{**s, "at": iso(s["at"])} for s in r["switches"]]
        print_json(rows)
        return 0
    if not rows:
        print(f"the ledger holds nothing{within(since, until)}", file=sys.stderr)
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

    paths = user_paths()
    log.addHandler(logging.NullHandler())  # what a check finds is in its verdict, not a log line
    checks = run_checks(paths, profile=args.profile or active_profile(paths))
    if args.json:
        print_json([c.__dict__ for c in checks])
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
            print_json(
                [{"kind": e.kind, "path": str(e.path), "headless": e.headless} for e in found]
            )
        elif found:
            for e in found:
                print(f"enabled: {e.kind} {e.path}")
        else:
            print("disabled: earmark does not start with your session")
    return 0
