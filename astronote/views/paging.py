"""Keyset page cursors from the query string, shared by every list page."""

from __future__ import annotations

import re

from flask import request

_CURSOR = re.compile(r"[0-9]{1,18}")  # ASCII digits only ("²".isdigit() is True), fits int64


def after_cursor(name: str = "after") -> int | None:
    """The id to continue after, or None for the first page (a bad value is the first page)."""
    raw = request.args.get(name, "")
    return int(raw) if _CURSOR.fullmatch(raw) else None
