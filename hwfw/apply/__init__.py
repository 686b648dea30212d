"""Executing a plan: steps, reboots, verification, checkpoints, state and resume."""
