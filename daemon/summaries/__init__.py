"""A profile's summary of a period: what it is made of (sentences, items, notes of
conversation and their fitted models), an optional language model the user runs, and the export
as Markdown or JSON.

May import: storage, core.
"""
