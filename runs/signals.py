"""Hooks of the runs app for the apps above it (integrations connects in its
AppConfig.ready). Sent inside the transaction of the change."""

from django.dispatch import Signal

# A run ended (kwargs `run`, with its final status, and `task`, locked and moved on).
run_finished = Signal()
