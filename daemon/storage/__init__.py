"""Everything Earmark keeps on disk: the store (SQLite: a connection with its migrations, and
one repository per kind of data), the spool of speech not yet transcribed, the search index, the
damaged-files folder, and the jobs that remove data: forgetting a span, and retention.

May import: core.
"""
