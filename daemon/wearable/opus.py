"""Ogg Opus in memory, for wearables that send compressed audio (PyAV's libopus).

At 24 kbit/s a second of speech is about 3.5 kB instead of 32 kB of PCM, which matters on a
pendant's Wi-Fi. Each chunk or recording is a whole Ogg Opus stream; the sender also says how
many samples it encoded, so a stream cut short is recognised even where Ogg itself would not
complain.
"""

from __future__ import annotations

import io
import itertools

import numpy as np

from daemon.storage.spool import SAMPLE_RATE

__all__ = ["OpusError", "decode_opus", "encode_opus"]

_BIT_RATE = 24_000
_SLACK = SAMPLE_RATE // 50  # one 20 ms Opus frame of padding either way


class OpusError(ValueError):
    """Bytes that are not a whole Ogg Opus stream of the promised length."""


def encode_opus(samples: np.ndarray) -> bytes:
    """16 kHz mono int16 samples as an Ogg Opus stream."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = _BIT_RATE
        frame = av.AudioFrame.from_ndarray(
            np.asarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


def decode_opus(data: bytes, samples: int) -> np.ndarray:
    """An Ogg Opus stream back to `samples` 16 kHz mono int16 samples; OpusError if it is not
    a readable stream, or holds fewer or more samples than promised. Decoding stops as soon as
    the stream goes past its promise, so a small stream cannot make a large amount of audio."""
    import av

    chunks: list[np.ndarray] = []
    decoded = 0
    try:
        with av.open(io.BytesIO(data), format="ogg") as container:
            if not container.streams.audio or container.streams.audio[0].codec.name != "opus":
                raise OpusError("it holds no Opus audio")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in itertools.chain(container.decode(audio=0), [None]):  # None: flush
                for piece in resampler.resample(frame):
                    chunks.append(piece.to_ndarray().reshape(-1))
                    decoded += len(chunks[-1])
                if decoded > samples + _SLACK:
                    raise OpusError(f"it holds more than the {samples} samples promised")
    except OpusError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise OpusError(f"it is not a readable Ogg Opus stream ({exc})") from None
    decoded = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if len(decoded) < samples - _SLACK:
        raise OpusError(f"it is truncated: {len(decoded)} of the {samples} samples promised")
    if len(decoded) < samples:
        decoded = np.concatenate([decoded, np.zeros(samples - len(decoded), dtype=np.int16)])
    return decoded[:samples].astype(np.int16, copy=False)
