"""What every part of Earmark shares: where its files live, its named errors, times as people
type them, profiles and the rules inside them (activation windows, export schedules), what the
user chose about recording, and the control socket the CLI and the tray talk to the daemon through.

May import: nothing outside daemon.core.
"""
