"""Markdown for bench/contacts.py results (printed, and kept in docs/PERFORMANCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import common

IMPORT_TARGET_S = 60.0  # for 1,000,000 rows (the "Done when")
PAGE_TARGET_MS = 50.0


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _import_section(result: dict) -> tuple[str, bool]:
    data, base, imp = result["data"], result["baseline"], result["import"]
    rows = data.rows
    ratio = imp["total_s"] / base["total_s"]
    table = common.table(
        ["Step", "Time", "Rows/s", "vs baseline"],
        [
            [
                f"Baseline: bare {base['method']} of the clean rows (contacts, tags, consent "
                "events; same indexes)",
                _s(base["total_s"]),
                common.rate(rows, base["total_s"]),
                "1.0×",
            ],
            [
                f"Baseline: bare {base['method']}, contacts table only",
                _s(base["contacts_s"]),
                common.rate(rows, base["contacts_s"]),
                "",
            ],
            [
                "**Astronote import, total** (upload + task)",
                f"**{_s(imp['total_s'])}**",
                f"**{common.rate(rows, imp['total_s'])}**",
                f"**{ratio:.1f}× the baseline time**",
            ],
            [
                "· upload: `store_upload` (file into the database in 1 MiB chunks)",
                _s(imp["upload_s"]),
                "",
                "",
            ],
            [
                "· task: validation pass (whole file, before any write)",
                _s(imp["validate_s"]),
                "",
                "",
            ],
            [
                "· task: write pass (parse, normalise, upsert, history, tags, counts)",
                _s(imp["write_s"]),
                "",
                "",
            ],
        ],
    )
    scaled = imp["total_s"] * 1_000_000 / rows
    met = scaled < IMPORT_TARGET_S
    note = f"Target: 1,000,000 contacts in under {IMPORT_TARGET_S:.0f} s: {_mark(met)}" + (
        "" if rows == 1_000_000 else f" (extrapolated from {rows:,} rows: {scaled:.0f} s)"
    )
    probe = result["probe"]
    memory = common.table(
        ["Import", "RSS before task", "Peak RSS during task", "Growth"],
        [
            [
                f"{r.get('rows', rows):,} rows",
                f"{r['rss_before_mb']:.0f} MB",
                f"{r['rss_peak_mb']:.0f} MB",
                f"{r['rss_peak_mb'] - r['rss_before_mb']:+.0f} MB",
            ]
            for r in (probe, {**imp, "rows": rows})
        ],
    )
    return (
        f"### Import\n\n{table}\n\n{note}.\n\nMemory of the import task (peak RSS, "
        f"kernel high-water mark reset before each task):\n\n{memory}\n",
        met,
    )


def _correctness(result: dict) -> tuple[str, bool]:
    data, job, stored = result["data"], result["import"]["job"], result["stored"]
    expected = {
        "status": "completed",
        "rows": data.rows,
        "created": data.good,
        "errors": data.bad,
        "contacts": data.good,
        "tags": data.tag_rows,
        "events": data.consent_rows,
    }
    actual = {**job, **stored}
    wrong = [
        f"{k}: expected {v:,}, got {actual[k]:,}"
        if isinstance(v, int)
        else f"{k}: expected {v}, got {actual[k]}"
        for k, v in expected.items()
        if actual[k] != v
    ]
    if wrong:
        return "**Correctness check FAILED**: " + "; ".join(wrong) + ".", False
    return (
        f"Check: the job completed with {job['created']:,} created and {job['errors']:,} "
        f"row errors, and the database holds {stored['contacts']:,} contacts, "
        f"{stored['tags']:,} tags and {stored['events']:,} consent events, as generated."
    ), True


def _pages_section(result: dict) -> tuple[str, bool]:
    base = result["page_baseline"]
    rows = [
        [
            "Baseline: bare `SELECT * ... WHERE shop_id = ? ORDER BY id DESC LIMIT 50`",
            f"{base['p50']:.1f}",
            f"{base['p95']:.1f}",
            "50",
            "1.0×",
        ]
    ]
    worst = 0.0
    for label, page in result["pages"].items():
        worst = max(worst, page["p95"])
        rows.append(
            [
                label,
                f"{page['p50']:.1f}",
                f"{page['p95']:.1f}",
                page["rows"],
                f"{page['p95'] / base['p95']:.0f}×",
            ]
        )
    table = common.table(["Request", "p50 ms", "p95 ms", "Rows shown", "p95 vs baseline"], rows)
    met = worst < PAGE_TARGET_MS
    return (
        f"### List page\n\nServer time through the Flask test client (session token, "
        f"auth, queries, template), {result['args']['requests']} timed requests each after 5 "
        f"warm-up requests:\n\n{table}\n\nTarget: p95 under {PAGE_TARGET_MS:.0f} ms for every "
        f"request: {_mark(met)} (worst p95 {worst:.1f} ms).\n"
    ), met


def render(result: dict, command: str) -> tuple[str, bool]:
    """Return (Markdown, correctness ok)."""
    data = result["data"]
    args = result["args"]
    export = result["export"]
    imports, _ = _import_section(result)
    check, ok = _correctness(result)
    page_md, _ = _pages_section(result)
    reproduce = (
        (
            "`make bench-contacts`  (runs `ASTRONOTE_ENV=test python bench/contacts.py "
            "--rows 1000000`)"
        )
        if args["rows"] == 1_000_000 and args["backend"] == "postgresql"
        else f"`ASTRONOTE_ENV=test {command}`"
    )
    head = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {common.machine()}, {result['server']}.\n\n"
        f"Reproduce: {reproduce}. `make bench-contacts-quick` runs the same at 50,000 rows.\n\n"
        f"Data: {data.rows:,} CSV rows ({data.size_bytes / 1e6:.0f} MB) generated "
        f"deterministically: valid numbers in the US, GB, GR and DE, 80% written in E.164, "
        f"15% in US national format (the shop's region), 5% international with spaces; names "
        f"(some Greek and accented), 80% with an email, genders, birth dates, consent states, "
        f"0-3 tags ({data.tag_rows:,} in all). One row in 500 is deliberately bad (invalid "
        f"phone, invalid email or a repeated phone): {data.bad:,} rows for the error report.\n"
    )
    export_md = common.table(
        ["Rows", "Time", "Rows/s", "First byte"],
        [
            [
                f"{export['rows']:,}",
                _s(export["seconds"]),
                common.rate(export["rows"], export["seconds"]),
                _s(export["first_byte_s"]),
            ]
        ],
    )
    body = (
        f"{head}\n{imports}\n{check}\n\n{page_md}\n### CSV export (streamed, all contacts)"
        f"\n\n{export_md}\n"
    )
    return body, ok
