"""`earmark export`: write a profile's summary of a period, to its export folder or to a file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from daemon.cli.shared import (
    add_command,
    add_period,
    add_scope,
    profiles_in_scope,
    read_period,
    user_paths,
)
from daemon.core.errors import EarmarkError
from daemon.core.profiles import load_profile
from daemon.core.timespec import parse_span

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "export", cmd_export, "write the profile's summary of a period (today by default)"
    )
    add_scope(p)
    add_period(p)
    p.add_argument("--format", choices=["md", "json"], help="default: the profile's")
    p.add_argument("-o", "--output", metavar="PATH", help="this file (- for standard output)")


def cmd_export(args) -> int:
    from daemon.summaries.export import (
        export_period,
        render_json,
        render_markdown,
        summarize,
        write_export,
    )

    paths = user_paths()
    profiles = profiles_in_scope(args, paths)
    if args.output and len(profiles) > 1:
        raise EarmarkError("-o names one file; with --all each profile gets its own")
    now = time.time()
    since, until = read_period(args, since=parse_span("today", now=now)[0], until=now)
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
