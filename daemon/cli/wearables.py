"""Devices and wearables: pair a wearable, list input devices and paired wearables (or revoke
one), and be a wearable that streams this machine's microphone to a daemon."""

from __future__ import annotations

import argparse
import time

from daemon.cli.shared import add_command, print_json, setup_logging, user_paths
from daemon.core import control
from daemon.core.errors import DaemonNotRunning, EarmarkError
from daemon.core.profiles import load_profile
from daemon.core.timespec import iso

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "pair", cmd_pair, "pair a network wearable: show a one-time code", json_flag=True
    )
    p.add_argument("--name", required=True, help="what to call the device (its source name)")
    p.add_argument("--profile", metavar="NAME", help="file its audio here (default: the active)")

    p = add_command(
        sub,
        "devices",
        cmd_devices,
        "list input devices and paired wearables, or revoke a wearable",
        json_flag=True,
    )
    p.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
    p.add_argument("name", nargs="?", metavar="NAME", help="the wearable to revoke")

    p = add_command(
        sub,
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


def cmd_pair(args) -> int:
    paths = user_paths()
    if args.profile:
        load_profile(args.profile, paths.profiles_dir)
    try:
        answer = control.request(paths.control_socket, "pair", name=args.name, profile=args.profile)
    except DaemonNotRunning:
        raise EarmarkError("Earmark is not running; start it (earmark run) to pair") from None
    code = f"{answer['code'][:4]}-{answer['code'][4:]}"
    if args.json:
        print_json({**answer, "code": code})
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

    paths = user_paths()
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
        print_json({"inputs": inputs, "paired": paired})
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

    paths = user_paths()
    setup_logging(args.debug)
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
