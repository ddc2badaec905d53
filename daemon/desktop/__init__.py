"""The desktop side: the tray icon and its menu, the search hotkey and the search window. It
talks to the daemon only through the control socket.

May import: capture, core.
"""
