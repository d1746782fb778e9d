"""Markdown for the two automations benches (docs/PERFORMANCE.md sections)."""

from __future__ import annotations

import os
import statistics
from datetime import UTC, datetime

from bench import common


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def _mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _ratio(base_s: float, measured_s: float) -> str:
    return f"{base_s / measured_s:.2f}×" if measured_s > 0 else "n/a"


def _cpu_table(cpu: dict, wall: float) -> str:
    cores = os.cpu_count() or 1
    rows = [
        [name, f"{secs:.1f} s", f"{100 * secs / (wall * cores):.0f}%"]
        for name, secs in sorted(cpu.items(), key=lambda kv: -kv[1])
        if secs >= 0.05
    ]
    rows.append(["(all cores × wall time)", f"{wall * cores:.1f} s", "100%"])
    return common.table(["Process", "CPU time", f"Share of {cores} cores"], rows)


def _task_table(tasks: dict) -> str:
    rows = [
        [f"`{name}`", f"{t['n']:,}", f"{t['total_s']:.1f} s", f"{t['mean_ms']:.0f} ms"]
        for name, t in tasks.items()
    ]
    return common.table(["Task", "Runs", "Total", "Mean"], rows or [["(none)", "", "", ""]])


def _wait_table(activity: dict) -> str:
    samples = activity["samples"] or 1
    rows = [[w, f"{n / samples:.2f}"] for w, n in activity["waits"]]
    rows += [
        [f"{w}: `{q}`".replace("|", "\\|"), f"{n / samples:.2f}"]
        for w, q, n in activity.get("statements", [])
    ]
    return common.table(["Wait event (and statement)", "Sessions on average"], rows)


def _statement_table(rows: list) -> str:
    if not rows or isinstance(rows, str):
        return "(not recorded)"
    body = [
        [
            f"{share:.0%}",
            f"{total:.1f} s",
            f"{calls:,}",
            f"{mean:.1f} ms",
            f"`{query}`".replace("|", "\\|"),
        ]  # fmt: skip
        for total, calls, _rows, mean, query, share in rows
    ]
    return common.table(["Share", "Total", "Calls", "Mean", "Statement"], body)


HOT_ROWS = {
    "credit_balances": (
        "the shop's one `credit_balances` row (`services/credits._post`: every message "
        "reserves credits when the dispatcher queues it and consumes them when it is sent, "
        "each holding the row locked until its transaction commits)"
    ),
    "report_daily": (
        "the shop's `report_daily` row for the day and flow (`services/reports/rollups`: "
        "every send upserts it in the send's transaction, so every send of the day "
        "queues for that one row)"
    ),
}


def _dominates(app: dict) -> str:
    """The measured answer to "what dominates", in one paragraph."""
    rows = app.get("statements") or []
    waits = (app.get("activity") or {}).get("waits", [])
    active = sum(n for _, n in waits) or 1
    locked = sum(n for w, n in waits if w.startswith("Lock:")) / active
    text = (
        f"What dominates: {locked:.0%} of the time a database session was active it was "
        "waiting for a row lock held by another transaction."
    )
    for table, why in HOT_ROWS.items():
        share = sum(r[5] for r in rows if table in r[4])
        if share >= 0.1:
            text += f" {share:.0%} of all statement time went to statements on {why}."
    tasks = app.get("tasks") or {}
    sends = tasks.get("send_single", {}).get("n", 0)
    dispatches = tasks.get("dispatch_shop", {}).get("n", 0)
    if dispatches:
        text += (
            f" The dispatcher was woken {dispatches:,} times (once per webhook's commit)"
            f" and `send_single` ran {sends:,} times for the messages"
        )
        text += (
            "; the extra runs are the every-minute sweeper re-enqueuing messages still "
            "waiting in the backed-up queue (each message is still claimed once)."
            if sends > dispatches
            else "."
        )
    return text


def _problems(errors: dict) -> str:
    if "per_process" not in errors:  # an older result file
        return f"Errors logged by the processes: {errors}."
    kinds = errors["kinds"]
    text = f"Tracebacks and ERROR lines per process: {errors['per_process']}."
    if kinds:
        text += " Most frequent problem lines (digits as N):\n\n" + "\n".join(
            f"- {n:,} × `{line}`".replace("|", "\\|") for line, n in kinds
        )
    return text


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- orders


def orders_checks(results: dict) -> dict[str, bool]:
    n = results["args"]["webhooks"]
    bare, send, app = results["bare"], results["bare_send"], results["app"]
    sim, db = app["sim"], app["db"]
    replay = app["replay"]
    return {
        f"every POST answered 200 ({n:,} in each run)": all(
            r["statuses"] == {"200": n} for r in (bare, send, app, results.get("bare_after", bare))
        ),
        f"baseline stored {n:,} distinct events": tuple(bare["stored"]) == (n, n),
        f"reference: {n:,} SMS at the simulator, one per order": (
            send["sim"]["orders_confirmed"] == send["sim"]["logged"] == n
        ),
        f"{n:,} confirmations at the simulator": sim["logged"] == n,
        f"{n:,} distinct texts, one per order, none twice": (
            sim["distinct_texts"] == sim["orders_confirmed"] == n and sim["orders_twice"] == 0
        ),
        "each to its buyer's phone, no stray SMS": sim["wrong_phone"] == 0 and sim["strays"] == 0,
        f"{n:,} orders recorded": db["orders"] == n,
        "replayed deliveries answered 200 and sent nothing more": (
            replay["redelivery_statuses"] == {"200": replay["redeliveries"]}
            and replay["new_id_statuses"] == {"200": replay["new_ids"]}
            and sim["logged"] == n
        ),
    }


def orders_section(results: dict, command: str) -> tuple[str, bool]:
    args = results["args"]
    n = args["webhooks"]
    bare, send, app = results["bare"], results["bare_send"], results["app"]
    after = results.get("bare_after")
    # The baseline: the mean of the bare runs before and after the product's long run,
    # so both see the machine's load at either end of it.
    base_s = (bare["wall_s"] + after["wall_s"]) / 2 if after else bare["wall_s"]
    checks = orders_checks(results)
    ok = all(checks.values())
    rate = common.rate
    activity = app.get("activity") or {"interval_s": 0, "samples": 0, "waits": []}
    threads = args["workers"] * args["threads"] + 1
    rows = [
        [
            "Bare endpoint (HMAC + one `INSERT` into `webhook_events`), before the product",
            _s(bare["wall_s"]),
            rate(n, bare["wall_s"]),
            f"{bare['p50_ms']:.1f} / {bare['p95_ms']:.1f} / {bare['p99_ms']:.1f}",
            _ratio(base_s, bare["wall_s"]),
        ],
    ]
    if after:
        rows.append(
            [
                "The same, after the product",
                _s(after["wall_s"]),
                rate(n, after["wall_s"]),
                f"{after['p50_ms']:.1f} / {after['p95_ms']:.1f} / {after['p99_ms']:.1f}",
                _ratio(base_s, after["wall_s"]),
            ]
        )
    rows += [
        [
            "**Baseline**: the mean of the bare runs" if after else "**Baseline**",
            f"**{_s(base_s)}**",
            f"**{rate(n, base_s)}**",
            "",
            "**1.00×**",
        ],
        [
            "Reference: bare endpoint that also sends the SMS inline, until the last "
            "SMS is at the simulator",
            _s(send["e2e_s"]),
            rate(n, send["e2e_s"]),
            f"{send['p50_ms']:.1f} / {send['p95_ms']:.1f} / {send['p99_ms']:.1f}",
            _ratio(base_s, send["e2e_s"]),
        ],
        [
            "Astronote: webhooks answered (`POST /webhooks/shopify`: verify, record, enqueue)",
            _s(app["wall_s"]),
            rate(n, app["wall_s"]),
            f"{app['p50_ms']:.1f} / {app['p95_ms']:.1f} / {app['p99_ms']:.1f}",
            _ratio(base_s, app["wall_s"]),
        ],
        [
            "**Astronote end to end**: first POST → last confirmation at the simulator",
            f"**{_s(app['e2e_s'])}**",
            f"**{rate(n, app['e2e_s'])}**",
            "",
            f"**{_ratio(base_s, app['e2e_s'])}** "
            f"({_ratio(send['e2e_s'], app['e2e_s'])} of the inline reference)",
        ],
    ]
    table = common.table(
        ["Run", "Time", "Webhooks/s", "POST latency p50 / p95 / p99 (ms)", "vs baseline rate"],
        rows,
    )
    check_lines = "\n".join(f"- {name}: {_mark(good)}" for name, good in checks.items())
    sim, db, replay = app["sim"], app["db"], app["replay"]
    body = f"""Reproduce: `make bench-automations` (`{command}`), measured {_stamp()}.

- Machine: {common.machine()}; {results["server"]}. Everything below shares these
  cores with the sender. Load average (1/5/15 min) before the run
  {results["load_before"]}, after it {results["load_after"]} (other helpers' test runs
  share the machine).
- Code: {results["code"]}.
- Data: {args["contacts"]:,} contacts in one shop loaded with `COPY` (88% subscribed,
  with order history and birthdays, see the scans bench); Order confirmation switched
  on, no quiet period, no frequency cap. {n:,} signed `orders/create` deliveries
  (the API 2026-10 REST order of the project's fake Shopify,
  `tests/fakes/shopify_webhooks.order`, {app.get("body_bytes", 0):,.0f} bytes on average),
  each from a different subscribed customer, POSTed once each from
  {args["concurrency"]} keep-alive connections on 127.0.0.1.
- Web: gunicorn as in Procfile (`gthread`, {args["web_workers"]} workers ×
  {args["web_threads"]} threads, access log on), `ASTRONOTE_ENV=production`. Workers:
  Procfile's `worker` ({args["workers"]} `huey_consumer` × {args["threads"]} threads, `-n`)
  and `scheduler` (1 thread, periodic tasks) on Redis; rate limits set out of the way.
  Provider: the Mitto simulator, no faults, no delivery reports.

Why this baseline: the issue asks for the bare webhook endpoint. Ours is the least
any endpoint must do with a delivery before it answers Shopify (check the HMAC over
the exact bytes, make it durable once: `INSERT … ON CONFLICT (webhook_id) DO NOTHING`
into the real `webhook_events` table with its indexes), written the fastest way we
know (a plain WSGI callable, one psycopg connection per thread in autocommit), under
the same gunicorn with the same workers and threads, hit by the same sender with the
same bodies, once before and once after the product's run (their mean is the baseline:
the machine's load drifts over a run of minutes). It sends no SMS, so the end-to-end
ratio prices everything the product does after recording the delivery. The reference
row adds the SMS inline, with no queue, no consent re-check, no credits and no
bookkeeping: it shows what the end to end would cost without the durable pipeline, not
what we should build.

{table}

Where the CPU went (from `/proc`, first POST to last SMS; PostgreSQL includes every
backend):

{_cpu_table(app["cpu"], app["e2e_s"])}

Huey tasks during the run (from the consumers' log lines; wall time inside each task,
{threads} threads in all):

{_task_table(app.get("tasks") or {})}

What the database sessions were doing, sampled every {activity["interval_s"] * 1000:.0f} ms
({activity["samples"]:,} samples; one line per wait event, "CPU" = running):

{_wait_table(activity)}

Statements by total time (`pg_stat_statements`, the product run only):

{_statement_table(app.get("statements") or [])}

{_dominates(app)}

Baseline run, for comparison:

{_cpu_table(bare["cpu"], bare["wall_s"])}

Exactly once ({replay["redeliveries"]:,} deliveries redelivered with their webhook ids,
then {replay["new_ids"]:,} again under new ids, as a second subscription would):

{check_lines}

Database after the run: orders {db["orders"]:,}; webhook events {db["events"]};
automation runs {db["runs"]}; messages {db["messages"]}. A confirmation as the
simulator logged it: "{sim["sample"]}".

{_problems(app["errors"])}
"""
    return body, ok


# ---------------------------------------------------------------- scans


def scans_checks(results: dict, median) -> dict[str, bool]:
    rounds, check = results["rounds"], results["check"]
    base = rounds[0]["baseline"]
    same_counts = all(
        r["product"]["counts"].get(f, 0) == r["baseline"][f]["rows"]
        for r in rounds
        for f in ("win_back", "birthday")
    )
    repeats = [r[k]["counts"] for r in rounds for k in ("repeat", "repeat_again")]
    repeats += [r[f"{f}_repeat"]["counts"] for r in rounds for f in ("win_back", "birthday")]
    contacts = results["args"]["contacts"]
    overlap = results.get("overlap") or {}
    wanted = base["win_back"]["rows"] + base["birthday"]["rows"]
    inserted = sum(sum(c.values()) for c in overlap.get("counts", []))
    return {
        "two overlapping scans insert each row once": (
            inserted == overlap.get("rows") == overlap.get("distinct") == wanted
        ),
        "row counts equal the baseline's, every round": same_counts,
        "the same rows (flow, key, contact, due time) as the baseline": (
            check["only_product"] == 0 and check["only_baseline"] == 0
        ),
        "no contact twice per flow": check["twice"] == 0,
        "a repeated scan inserts 0 rows": all(not any(c.values()) for c in repeats),
        "win-back is a sizeable slice (≥ 5% of contacts)": (
            base["win_back"]["rows"] >= 0.05 * contacts
        ),
        "birthdays ≈ 1/365 of the subscribed with a birth date": base["birthday"]["rows"] > 0,
    }


def _plan_table(plans: dict) -> str:
    rows = []
    for key, split in plans.items():
        label = "plain" if key.endswith("_plain") else "`ON CONFLICT DO NOTHING`"
        rows.append(
            [
                f"{key.split('_on_')[0].removesuffix('_plain')}, {label}",
                f"{split['read_node']}: {split['read_ms']:.0f} ms",
                f"{split['write_ms']:.0f} ms",
                f"{split['foreign_key_ms']:.0f} ms",
                f"{split['total_ms']:.0f} ms",
            ]
        )
    headers = ["Bare insert", "Reading contacts", "Writing rows + indexes", "FK checks", "Total"]
    return common.table(headers, rows)


def _round_ratios(rounds: list[dict]) -> str:
    ratios = [r["baseline"]["total_s"] / r["product"]["s"] for r in rounds]
    spread = ", ".join(f"{x:.2f}×" for x in ratios)
    return f"{statistics.median(ratios):.2f}× ({spread})"


def _step(label: str, rows: int, seconds: float, base: float, bold: bool = False) -> list:
    cells = [label, f"{rows:,}", _s(seconds), _ratio(base, seconds)]
    return [f"**{c}**" for c in cells] if bold else cells


def scans_section(results: dict, command: str, median) -> tuple[str, bool]:
    args, rounds, data = results["args"], results["rounds"], results["in_data"]
    n = args["contacts"]
    checks = scans_checks(results, median)
    ok = all(checks.values())

    def m(*path: str) -> float:
        return median(rounds, *path)

    wb, bd = (rounds[0]["baseline"][f]["rows"] for f in ("win_back", "birthday"))
    base_wb, base_bd, base = (
        m("baseline", "win_back", "s"),
        m("baseline", "birthday", "s"),
        m("baseline", "total_s"),
    )
    table = common.table(
        ["Step", "Rows inserted", "Time (median)", "vs baseline"],
        [
            _step("Baseline: bare `INSERT … SELECT`, win-back", wb, base_wb, base_wb),
            _step("Baseline: bare `INSERT … SELECT`, birthday", bd, base_bd, base_bd),
            _step("Baseline: both, one transaction", wb + bd, base, base, bold=True),
            _step("`run_daily`, win-back only (+ commit)", wb, m("win_back_only", "s"), base_wb),
            _step("`run_daily`, birthday only (+ commit)", bd, m("birthday_only", "s"), base_bd),
            _step("`run_daily`, both flows (+ commit)", wb + bd, m("product", "s"), base, True),
            _step(
                "Repeat `run_daily`, both flows (overlap, hourly re-run)", 0, m("repeat", "s"), base
            ),  # fmt: skip
            _step(
                "Two `run_daily` at once (overlapping), both flows, wall time",
                wb + bd,
                results["overlap"]["s"],
                base,
            ),  # fmt: skip
            _step("Repeat `run_daily`, win-back only", 0, m("win_back_repeat", "s"), base_wb),
            _step("Repeat `run_daily`, birthday only", 0, m("birthday_repeat", "s"), base_bd),
            _step(
                "For the breakdown: bare `INSERT … SELECT … ON CONFLICT DO NOTHING`, both",
                wb + bd,
                m("idempotent", "total_s"),
                base,
            ),  # fmt: skip
            _step(
                "For the breakdown: the same again (0 rows)",
                0,
                m("idempotent_repeat", "total_s"),
                base,
            ),  # fmt: skip
        ],
    )
    per_round = common.table(
        ["Round", "Baseline (both)", "`run_daily` (both)", "Repeat", "Ratio"],
        [
            [
                str(i + 1),
                _s(r["baseline"]["total_s"]),
                _s(r["product"]["s"]),
                _s(r["repeat"]["s"]),
                _ratio(r["baseline"]["total_s"], r["product"]["s"]),
            ]
            for i, r in enumerate(rounds)
        ],
    )
    check_lines = "\n".join(f"- {name}: {_mark(good)}" for name, good in checks.items())
    window = results["window"]
    last_day = window["delay_days"] + window["lookback_days"]
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(results["contacts"].items()))
    body = f"""Reproduce: `make bench-automations` (`{command}`), measured {_stamp()}.

- Machine: {common.machine()}; {results["server"]}. Load average (1/5/15 min) before
  the run {results["load_before"]}, after it {results["load_after"]} (other helpers'
  test runs share the machine; every ratio is measured in the same run, and the rounds
  rotate which side goes first).
- Code: {results["code"]}.
- Data: {n:,} contacts in one shop (US numbers, zone America/New_York), loaded with
  `COPY` in {results["load_s"]:.0f} s: {states}. {data["ordered"]:,} have ordered,
  their last order spread uniformly over two years, except a promotion whose buyers
  ({window["spike_pct"]:.0f}% of all contacts) last ordered {window["delay_days"]}–{last_day}
  days ago: {data["in_window"]:,} contacts are in the win-back window (last order
  {window["delay_days"]} days ago or earlier, caught up over {window["lookback_days"]} days; the
  {data["lapsed"] - data["in_window"]:,} who lapsed before that are not texted when the flow
  is switched on). {data["with_birthday"]:,} gave a birth date (years 1955–2006, days
  uniform): {data["born_today"]:,} were born on today's date. Only subscribed contacts
  get a run.
- Timed: `scans.run_daily(shop_id, now)` in the bench process (Flask app, SQLAlchemy,
  the real session) through its commit, whose hook enqueues the dispatcher's wake-up in
  Redis. The scan writes `automation_runs`, one `INSERT … SELECT … ON CONFLICT DO
  NOTHING` per flow (its row count taken from `RETURNING` in a CTE); the dispatcher
  turns due runs into messages afterwards, through the single-send guards, and is not
  in this figure.
- Baseline: the same rows, bare: one plain `INSERT … SELECT` per flow (same key text,
  same due times, no `ON CONFLICT`) into the same `automation_runs` table with the same
  indexes and foreign key, through psycopg, both in one transaction.
  `automation_runs` is emptied (`TRUNCATE`) before each timed insert;
  {args["rounds"]} round(s), median reported.

{table}

Per round:

{per_round}

What dominates (`EXPLAIN (ANALYZE)` of the bare inserts, from an empty table, rolled
back): reading the shop's contacts is one sequential scan (no index serves "last
ordered 90–97 days ago" or "born on this day" for a whole shop, and it would not pay
for itself: a scan of a million rows is a fraction of a second); the rest is writing
the runs and their four index entries (primary key, the unique run key, the due-time
partial index, shop/flow) and checking each row's shop foreign key.

{_plan_table(results["plans"])}

Paired round by round, `run_daily` ran at {_round_ratios(rounds)} of the bare rate
(median first). Where it costs more than the plain baseline, it is the conflict check
on the unique key (what makes a scan idempotent: the `ON CONFLICT` rows above) and
the `RETURNING` CTE that counts the rows (single rounds vary with the shared
machine's load). A repeated scan finds every key taken and writes nothing, so it costs
the read and one index probe per candidate: it is what every hourly re-run costs a
shop of this size.

Checks:

{check_lines}
"""
    return body, ok
