"""Audio sources: each yields wall-clock-stamped blocks of 16 kHz mono int16 samples."""

from daemon.capture.sources.base import AudioBlock, Source
from daemon.capture.sources.file import FileSource
from daemon.capture.sources.microphone import Microphone

__all__ = ["AudioBlock", "Source", "FileSource", "Microphone"]
