@echo off
rem Earmark at sign-in: `earmark autostart enable` copies this to the Startup folder.
start "" /min "@EARMARK@" run
