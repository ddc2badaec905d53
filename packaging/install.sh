#!/usr/bin/env bash
# Installs Earmark from this checkout on Debian/Ubuntu, then starts it (or, with --test, runs the
# whole test suite). Safe to run again: it only adds what is missing.
#
#   packaging/install.sh          install everything and start Earmark
#   packaging/install.sh --test   install everything the tests need and run them all
set -euo pipefail

mode=${1:-run}
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
python=${PYTHON:-python3}

runtime_packages=(libportaudio2 pulseaudio-utils xdg-utils gcc libc6-dev linux-libc-dev)
test_packages=(pulseaudio espeak-ng sox ffmpeg xvfb trayer xdotool imagemagick util-linux openssl nginx)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
packages=("${runtime_packages[@]}")
[ "$mode" = "--test" ] && packages+=("${test_packages[@]}")
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=(python3-venv)
fi
if ! "$python" -c 'import tkinter' 2>/dev/null; then
    packages+=(python3-tk)  # the search window
fi
# pynput's Linux dependency evdev is built from source: it needs a compiler and Python's headers
if ! "$python" -c 'import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null; then
    packages+=(python3-dev)
fi
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing system packages: ${need[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "$mode" = "--test" ]; then
    # the tests run from the checkout; tests/test_installed.py builds and checks the wheel itself
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$repo[test]"
else
    # what a user gets: the package built and installed, not the working tree
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$repo"
fi

case "$mode" in
    --test)
        cd "$repo"
        "$venv/bin/ruff" check daemon tests bench
        "$venv/bin/ruff" format --check daemon tests bench
        exec "$venv/bin/python" -m pytest -ra
        ;;
    run)
        mkdir -p "$HOME/.local/bin"
        ln -sf "$venv/bin/earmark" "$HOME/.local/bin/earmark"
        echo "earmark is installed (~/.local/bin/earmark); starting it — Ctrl-C stops it" >&2
        case ":$PATH:" in
            *":$HOME/.local/bin:"*) ;;
            *) echo "note: ~/.local/bin is not on your PATH; add it to use \`earmark\` by name:" \
                    "echo 'export PATH=\"\$HOME/.local/bin:\$PATH\"' >> ~/.bashrc" >&2 ;;
        esac
        exec "$venv/bin/earmark" run
        ;;
    *)
        echo "usage: packaging/install.sh [--test]" >&2
        exit 2
        ;;
esac
