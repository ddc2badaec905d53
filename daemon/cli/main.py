"""The `earmark` command: the parser, made of the groups of commands, and main(), which runs
the chosen command and turns an error into one sentence and exit 1."""

from __future__ import annotations

import argparse
import sys

from daemon import __version__
from daemon.cli import export, maintenance, profiles, recording, transcripts, wearables
from daemon.core.errors import EarmarkError
from daemon.core.paths import private_umask

__all__ = ["main"]

# In the order `earmark --help` lists their commands.
_GROUPS = (recording, transcripts, export, maintenance, wearables, profiles)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="earmark",
        description="Earmark hears, transcribes locally and files what was said under a profile.",
    )
    parser.add_argument("--version", action="version", version=f"earmark {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.add_commands(sub)
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
