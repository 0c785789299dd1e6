"""`mochat demo`: the whole live pipeline on this machine, watched as it runs.

The orchestration lives outside the core `mochat/` package because it starts and talks to
every service; it plugs into the `mochat` command through the `mochat.commands` entry
points (pyproject.toml), as the services do.
"""
