"""Running the daemon and steering it: run, status, stop, toggle, pause, resume, and forget the
last few minutes."""

from __future__ import annotations

import argparse
import sys
import time

from daemon.cli.shared import active_profile, add_command, print_json, setup_logging, user_paths
from daemon.core import control
from daemon.core.errors import DaemonNotRunning, EarmarkError
from daemon.core.profiles import load_profile
from daemon.core.timespec import parse_duration

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", cmd_run, "run the daemon in the foreground until Ctrl-C or SIGTERM")
    p.add_argument("--headless", action="store_true", help="no tray icon")
    p.add_argument("--profile", metavar="NAME", help="profile to record under")
    p.add_argument("--device", metavar="NAME", help="input device: a name substring or index")

    add_command(sub, "status", cmd_status, "show what the daemon is doing", json_flag=True)
    add_command(sub, "stop", cmd_stop, "ask the running daemon to finish and stop")
    add_command(sub, "toggle", cmd_toggle, "turn recording off, or back on")
    p = add_command(sub, "pause", cmd_pause, "pause recording, until resumed or for a while")
    p.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 15m or 1h")
    add_command(sub, "resume", cmd_resume, "resume recording after a pause or toggle")
    p = add_command(
        sub, "forget", cmd_forget, "delete the audio, transcripts and index entries of a span"
    )
    p.add_argument("--last", required=True, metavar="DURATION", help="e.g. 5m or 1h")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_run(args) -> int:
    from daemon.service.daemon import Daemon

    paths = user_paths()
    setup_logging(args.debug, paths.log_file)
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
    paths = user_paths()
    try:
        status = control.request(paths.control_socket, "status")
    except DaemonNotRunning:
        from daemon.storage.spool import Spool

        status = {
            "state": "not running",
            "profile": active_profile(paths),
            "source": None,
            "backlog": len(Spool(paths.spool_dir)),
            "model": None,
        }
    if args.json:
        print_json(status)
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
    _print_state(control.request(user_paths().control_socket, "toggle"))
    return 0


def cmd_pause(args) -> int:
    seconds = parse_duration(args.duration, what="--for") if args.duration else None
    _print_state(control.request(user_paths().control_socket, "pause", seconds=seconds))
    return 0


def cmd_resume(args) -> int:
    _print_state(control.request(user_paths().control_socket, "resume"))
    return 0


def cmd_forget(args) -> int:
    seconds = parse_duration(args.last, what="--last")
    paths = user_paths()
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
    control.request(user_paths().control_socket, "stop")
    print("earmark is stopping")
    return 0
