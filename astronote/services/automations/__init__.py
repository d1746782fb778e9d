"""Automations: flows that fire exactly once per event through the single-send guards."""
