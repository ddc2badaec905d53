"""The `earmark` command: the parser, and one module per group of commands. Errors become one
plain sentence and a non-zero exit.

    main          main() and the parser: the global options, then each group's commands
    shared        what several groups share: folders, JSON output, logging, scope and period
    recording     run, status, stop, toggle, pause, resume, forget
    transcripts   search, import, transcripts
    export        export
    maintenance   retention, reindex, ledger, doctor, autostart
    wearables     pair, devices, wearable
    profiles      profile

May import: service, desktop, wearable, summaries, transcribe, capture, storage, core.
"""
