"""Campaigns: compose, start, watch and report.

- `lifecycle`: compose, schedule, start a campaign (snapshot + reserve), pause, cancel, finish;
- `audience`: who a campaign goes to;
- `composer`: the composer's rules: preview, send confirmation, test sends;
- `stats`: what a campaign did, read set-based from its messages.
"""
