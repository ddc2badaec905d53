"""PortAudio, shared by every thread of the daemon.

PortAudio is not thread-safe. A device query while another thread rescans the devices reads freed
memory or fails with "PortAudio not initialized", and a rescan closes every stream that is open.
So every call into it goes through here: queries and stream openings hold one lock, and a rescan
happens only while no stream is open (a device switch, or a recording being played back in the
search window, is never cut off by another thread looking for new devices).
"""

from __future__ import annotations

import logging
import threading

__all__ = ["close", "lock", "open_input", "play", "query", "rescan"]

log = logging.getLogger(__name__)

lock = threading.RLock()
_open_streams = 0


def query(*args, **kwargs):
    """`sounddevice.query_devices`, never while another thread opens, closes or rescans."""
    import sounddevice as sd

    with lock:
        return sd.query_devices(*args, **kwargs)


def open_input(**settings):
    """A started `sounddevice.InputStream`; hand it back to `close`."""
    global _open_streams
    import sounddevice as sd

    with lock:
        stream = sd.InputStream(**settings)
        try:
            stream.start()
        except BaseException:
            stream.close(ignore_errors=True)
            raise
        _open_streams += 1
    return stream


def close(stream, *, timeout: float = 3.0) -> None:
    """Stop and close a stream from `open_input`, waiting at most `timeout` seconds.

    A vanished device can hang the stop; the daemon never hangs on it, and a stream that never
    closed keeps counting as open, so no rescan pulls PortAudio from under it.
    """

    def stop_and_close() -> None:
        global _open_streams
        stream.abort(ignore_errors=True)
        with lock:
            stream.close(ignore_errors=True)
            _open_streams -= 1

    closer = threading.Thread(target=stop_and_close, name="earmark-portaudio-close", daemon=True)
    closer.start()
    closer.join(timeout)


def rescan() -> bool:
    """Re-enumerate the devices so one that appeared is seen; False while a stream is open."""
    import sounddevice as sd

    with lock:
        if _open_streams:
            return False
        try:
            sd._terminate()  # the documented way: https://github.com/spatialaudio/python-sounddevice/issues/47
            sd._initialize()
        except sd.PortAudioError as exc:
            log.debug("PortAudio rescan failed: %s", exc)
            return False
    return True


def play(samples, rate: int) -> None:
    """Play int16 samples on the default output and wait until they have been heard."""
    global _open_streams
    import sounddevice as sd

    with lock:
        sd.play(samples, rate)
        _open_streams += 1
    try:
        sd.wait()
    finally:
        with lock:
            _open_streams -= 1
