"""The daemon: what it wires at start-up, its background jobs, the commands its control socket
answers, single-instance locking, `earmark doctor` and autostart.

May import: desktop, wearable, summaries, transcribe, capture, storage, core.
"""
