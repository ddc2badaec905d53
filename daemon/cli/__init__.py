"""The `earmark` command: the parser, and one module per group of commands. Errors become one
plain sentence and a non-zero exit.

May import: service, desktop, wearable, summaries, transcribe, capture, storage, core.
"""
