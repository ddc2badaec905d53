"""What several groups of commands share: the user's folders, printing JSON, logging, the
profiles and the period a read command looks at, and the options that name them."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from daemon.core.errors import EarmarkError
from daemon.core.paths import Paths
from daemon.core.profiles import list_profiles, load_profile
from daemon.core.recording_state import RecordingState
from daemon.core.timespec import parse_since, parse_until

__all__ = [
    "user_paths",
    "print_json",
    "active_profile",
    "setup_logging",
    "profiles_in_scope",
    "read_period",
    "minute",
    "within",
    "add_command",
    "add_scope",
    "add_period",
]


def user_paths() -> Paths:
    """The user's folders, made if missing."""
    return Paths.from_environment().ensure()


def print_json(value) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def active_profile(paths: Paths) -> str:
    return RecordingState.load(paths.state_file).profile


def setup_logging(debug: bool, log_file: Path | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(RotatingFileHandler(log_file, maxBytes=5 * 1024**2, backupCount=3))
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format=fmt, handlers=handlers, force=True
    )
    logging.getLogger("faster_whisper").setLevel(logging.DEBUG if debug else logging.WARNING)


def profiles_in_scope(args, paths: Paths) -> list[str]:
    """The profiles a read command looks at: one (known by its file or its data), or all."""
    from daemon.storage.store import Store

    names = set(list_profiles(paths.profiles_dir))
    name = None if getattr(args, "all", False) else args.profile or active_profile(paths)
    if name in names:
        return [name]  # known by its file: no need to ask the store
    names.update(Store(paths.database).utterances.profiles())
    if name is None:
        return sorted(names)
    if name not in names:
        load_profile(name, paths.profiles_dir)  # says which profiles there are
    return [name]


def read_period(args, *, since: float | None = None, until: float | None = None):
    """--since and --until (or the defaults given); EarmarkError for a period that ends before
    it starts, the same sentence for every command."""
    since = parse_since(args.since) if args.since else since
    until = parse_until(args.until) if args.until else until
    if since is not None and until is not None and until <= since:
        raise EarmarkError(
            f"the period ends ({minute(until)}) before it starts ({minute(since)}): expected "
            "--until after --since"
        )
    return since, until


def minute(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def within(since: float | None, until: float | None) -> str:
    """' between A and B' (or ' since A', ' until B') for a sentence saying nothing was found."""
    if since is not None and until is not None:
        return f" between {minute(since)} and {minute(until)}"
    if since is not None:
        return f" since {minute(since)}"
    return f" until {minute(until)}" if until is not None else ""


# -- options ------------------------------------------------------------------------------


def add_command(
    sub: argparse._SubParsersAction, name: str, func, help_text: str, *, json_flag: bool = False
) -> argparse.ArgumentParser:
    """A subcommand whose help is also its description, run by `func`; --json if asked."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(func=func)
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")
    return p


def add_scope(p: argparse.ArgumentParser) -> None:
    """--profile NAME or --all: the profiles a read command looks at."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--profile", metavar="NAME", help="this profile (default: the active one)")
    group.add_argument("--all", action="store_true", help="every profile")


def add_period(p: argparse.ArgumentParser) -> None:
    """--since and --until."""
    p.add_argument("--since", metavar="TIME", help="e.g. 2h, 3d, yesterday, 2026-11-25")
    p.add_argument("--until", metavar="TIME", help="same forms as --since")
