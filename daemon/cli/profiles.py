"""`earmark profile`: list, show, check or use profiles."""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.cli.shared import active_profile, add_command, print_json, user_paths
from daemon.core import control
from daemon.core.errors import DaemonNotRunning, EarmarkError
from daemon.core.profiles import list_profiles, load_profile, load_profile_file
from daemon.core.recording_state import RecordingState

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "profile", cmd_profile, "list, show, check or use profiles", json_flag=True
    )
    p.add_argument("action", choices=["list", "show", "check", "use"])
    p.add_argument("target", nargs="?", metavar="NAME|FILE")


def cmd_profile(args) -> int:
    paths = user_paths()
    if args.action == "list":
        active = active_profile(paths)
        names = list_profiles(paths.profiles_dir)
        if args.json:
            print_json([{"name": n, "active": n == active} for n in names])
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

        print_json(asdict(profile))
    elif args.action == "use":
        try:
            control.request(paths.control_socket, "use_profile", name=profile.name)
            print(f"earmark: now filing what is heard under {profile.name}")
        except DaemonNotRunning:
            RecordingState.load(paths.state_file).using(profile.name).save(paths.state_file)
            print(f"earmark: not running; {profile.name} will be used when it starts")
    return 0
