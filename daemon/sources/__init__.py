"""Audio sources: each yields wall-clock-stamped blocks of 16 kHz mono int16 samples."""

from daemon.sources.base import AudioBlock, Source
from daemon.sources.file import FileSource
from daemon.sources.microphone import Microphone

__all__ = ["AudioBlock", "Source", "FileSource", "Microphone"]
