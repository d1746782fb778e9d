"""Automations tasks: thin wrappers over services/automations."""
