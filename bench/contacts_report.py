"""Markdown for bench/contacts.py results (printed, and kept in docs/PERFORMANCE.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from bench import common

IMPORT_TARGET_S = 60.0  # for 1,000,000 rows (the "Done when")
PAGE_TARGET_MS = 50.0
DISTURBED = 0.10  # CPU used by other processes, as a share of both cores, that taints a run
NOTES = """### Where the time goes

- **Import, two threads.** One decodes the CSV, validates each row (phones with
  `phonenumbers`, straight to validation when already `+digits`) and encodes the
  batch's binary COPY rows, with ids taken from the sequence. The other looks up
  which phones exist (one LATERAL probe of the unique index per phone), COPYs the
  new contacts, their tags and consent history, merges updates through a staging
  table, and commits each batch with its checkpoint. Batches ramp from 1,000 rows
  to 20,000, so the server starts at once; one batch waits between the threads.
- **The server is the bottleneck.** Foreign-key checks were about half of its CPU
  (a `perf` profile put `AfterTriggerEndQuery` at half of the backend's samples,
  index maintenance on the nine indexes of contacts at most of the rest). Tags and
  consent history referenced both their contact and the shop; the shop reference was
  redundant (the rows cascade from contacts, which cascade from shops) and migration
  0006 dropped it: 1.8 million checks fewer per million rows, and the import went
  from 56.4 s to 48.9 s. Contacts still reference shops, tags and history their
  contact. The baseline's scratch tables have the same indexes but no foreign keys.
- **After a large import** the task runs `VACUUM (ANALYZE)` on contacts and tags
  while the last batch commits: fresh statistics for the planner, and a visibility
  map so that counts can be index-only. Without it, the first minute after an
  import saw multi-second plans and 100 ms counts.
- **List pages** walk `(shop_id, id)` newest first; the match count stops at
  10,001 and is skipped when the first page holds everything; each list request
  plans for its actual values (`plan_cache_mode = force_custom_plan`), because
  after five executions PostgreSQL switched prepared prefix searches to a generic
  plan that scanned the whole table (10 ms became 110 ms).
"""


def _s(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _cpu(run: dict) -> str:
    cpu = run["cpu"]
    if not cpu["postgres"]:
        return f"CPU over the {_s(cpu['wall'])} of upload and task: {_s(cpu['python'])}"
    others = cpu["others"] / (2 * cpu["wall"])
    line = (
        f"CPU over the {_s(cpu['wall'])} of upload and task: PostgreSQL {_s(cpu['postgres'])}, "
        f"the Python process {_s(cpu['python'])} (parse and write threads), anything else "
        f"{_s(cpu['others'])} ({others:.0%} of the 2 cores)"
    )
    warning = " — **a disturbed run: other work competed for the cores**"
    return line + (warning if others > DISTURBED else "")


def _import_section(result: dict) -> tuple[str, bool]:
    data, base, imp = result["data"], result["baseline"], result["import"]
    rows, probe, again = data.rows, result["probe"], result["reimport"]
    method = base["method"]
    table = common.table(
        ["Step", "Time", "Rows/s", "vs baseline"],
        [
            [f"Baseline: bare {method} of the clean rows into copies of contacts, tags and "
             "consent events (same indexes, no foreign keys)", _s(base["total_s"]),
             common.rate(rows, base["total_s"]), "1.0×"],
            [f"Baseline: bare {method}, contacts only", _s(base["contacts_s"]),
             common.rate(rows, base["contacts_s"]), ""],
            ["**Astronote import, total** (upload + task)", f"**{_s(imp['total_s'])}**",
             f"**{common.rate(rows, imp['total_s'])}**",
             f"**{imp['total_s'] / base['total_s']:.2f}× the baseline time**"],
            ["· upload: `store_upload` (the file into the database in 1 MiB chunks)",
             _s(imp["upload_s"]), "", ""],
            ["· task: validation pass (the whole file, before any write)",
             _s(imp["validate_s"]), "", ""],
            ["· task: write pass (parse, normalise, upsert, history, tags, counts; on "
             "PostgreSQL also VACUUM ANALYZE)", _s(imp["write_s"]),
             common.rate(rows, imp["write_s"]), ""],
            [f"Re-import of {probe['rows']:,} rows into the same shop, nearly all phones "
             "already there (update path: new names, consent, tags)", _s(again["total_s"]),
             common.rate(probe["rows"], again["total_s"]), ""],
        ],
    )  # fmt: skip
    scaled = imp["total_s"] * 1_000_000 / rows
    met = scaled < IMPORT_TARGET_S
    note = f"Target: 1,000,000 contacts in under {IMPORT_TARGET_S:.0f} s: {_mark(met)}"
    if result["args"]["backend"] != "postgresql":
        note += " (the target is for PostgreSQL)"
    if rows != 1_000_000:
        note += f" (extrapolated from {rows:,} rows: {scaled:.0f} s)"
    memory = common.table(
        ["Import", "RSS before the task", "Peak RSS during the task"],
        [[f"{r['rows']:,} rows", f"{r['rss_before_mb']:.0f} MB", f"{r['rss_peak_mb']:.0f} MB"]
         for r in (probe, {**imp, "rows": rows})],
    )  # fmt: skip
    return (
        f"### Import\n\n{table}\n\n{note}.\n\n{_cpu(imp)}.\n\nMemory of the import task (the "
        f"kernel's RSS high-water mark, reset before each task). The peak is set by the batch "
        f"size and the one-batch queue between the threads, not by the file:\n\n{memory}\n"
    ), met


def _correctness(result: dict) -> tuple[str, bool]:
    data, job, stored = result["data"], result["import"]["job"], result["stored"]
    expected = {
        "status": "completed", "rows": data.rows, "created": data.good, "errors": data.bad,
        "contacts": data.good, "tags": data.tag_rows, "events": data.consent_rows,
    }  # fmt: skip
    actual = {**job, **stored}
    wrong = [f"{k}: expected {v}, got {actual[k]}" for k, v in expected.items() if actual[k] != v]
    again = result["reimport"]["job"]
    if again["status"] != "completed" or again["created"] + again["updated"] == 0:
        wrong.append(f"re-import: {again}")
    if wrong:
        return "**Correctness check FAILED**: " + "; ".join(wrong) + ".", False
    return (
        f"Check: the job completed with {job['created']:,} created and {job['errors']:,} row "
        f"errors; the database holds {stored['contacts']:,} contacts, {stored['tags']:,} tags "
        f"and {stored['events']:,} consent events, as generated. The re-import updated "
        f"{again['updated']:,} and created {again['created']:,}."
    ), True


def _pages_section(result: dict) -> tuple[str, bool]:
    base = result["page_baseline"]
    rows = [
        ["Baseline: bare `SELECT * FROM contacts WHERE shop_id = ? ORDER BY id DESC LIMIT 50` "
         "(driver connection, no ORM, no template)", f"{base['p50']:.1f}", f"{base['p95']:.1f}",
         "50", "1×"]
    ]  # fmt: skip
    for label, page in result["pages"].items():
        rows.append([label, f"{page['p50']:.1f}", f"{page['p95']:.1f}", page["rows"],
                     f"{page['p95'] / base['p95']:.0f}×"])  # fmt: skip
    worst = max(page["p95"] for page in result["pages"].values())
    met = worst < PAGE_TARGET_MS
    table = common.table(["Request", "p50 ms", "p95 ms", "Rows shown", "p95 vs baseline"], rows)
    return (
        f"### List page\n\nServer time through the Flask test client: session token, auth, "
        f"queries (page, capped match count, tags), template. {result['args']['requests']} "
        f"timed requests each, after 5 warm-up requests, right after the import:\n\n{table}\n\n"
        f"Target: p95 under {PAGE_TARGET_MS:.0f} ms for every request: {_mark(met)} (worst "
        f"p95 {worst:.1f} ms).\n"
    ), met


def render(result: dict, command: str) -> tuple[str, bool]:
    """Return (Markdown, correctness ok)."""
    data, args, export = result["data"], result["args"], result["export"]
    imports, _ = _import_section(result)
    check, ok = _correctness(result)
    page_md, _ = _pages_section(result)
    if args["rows"] == 1_000_000 and args["backend"] == "postgresql":
        reproduce = "`make bench-contacts` (`python bench/contacts.py --rows 1000000`)"
    else:
        reproduce = f"`ASTRONOTE_ENV=test {command}`"
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
        [[f"{export['rows']:,}", _s(export["seconds"]),
          common.rate(export["rows"], export["seconds"]), _s(export["first_byte_s"])]],
    )  # fmt: skip
    body = (
        f"{head}\n{imports}\n{check}\n\n{page_md}\n### CSV export (streamed, all contacts)"
        f"\n\n{export_md}\n\n{NOTES}"
    )
    return body, ok
