"""Network wearables (docs/wearable-protocol.md): pairing and request signatures, the HTTP
listener and its certificate, Ogg Opus, the live source and the ingest of synced recordings on the
daemon's side, and the reference client `earmark wearable`.

May import: capture, storage, core.
"""
