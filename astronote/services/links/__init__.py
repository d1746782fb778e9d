"""Tracked short links: per-recipient codes without a row per recipient, the redirect,
clicks and their rollups (issue 12, items 1-2).

The send path calls `prepare` once per body and `shorten` per message; the composer
measures with `measure`; the redirect is views/links.py; `stats` reads the rollups.
"""

from astronote.services.links.sets import AUTOMATION, CAMPAIGN, PreparedSet, Source, prepare
from astronote.services.links.shortening import measure, representative_link, shorten
from astronote.services.links.sources import for_campaign, for_flow, measure_body
from astronote.services.links.written import shorten_flow, shorten_written

__all__ = [
    "AUTOMATION",
    "CAMPAIGN",
    "PreparedSet",
    "Source",
    "for_campaign",
    "for_flow",
    "measure",
    "measure_body",
    "prepare",
    "representative_link",
    "shorten",
    "shorten_flow",
    "shorten_written",
]
