"""Hearing: audio sources (the microphone, a file, the first present of a profile's inputs),
PortAudio, the segmenter that cuts speech into utterances, the capture ledger, and the capture
stage that writes each utterance to the spool.

May import: storage, core.
"""
