"""From speech to stored text: the local model and a transcription server, hallucination
flags, redaction, telling the same speech heard on two inputs, the transcribe stage that drains
the spool into the store and the index, and `earmark import` (recordings and transcripts).

May import: capture, storage, core.
"""
