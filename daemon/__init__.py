"""Earmark: a personal ambient-transcription daemon."""

__version__ = "0.1.0"
