"""Development-only tools (demo data, provider simulators)."""
