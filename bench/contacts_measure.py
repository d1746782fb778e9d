"""The measurements of bench/contacts.py: baseline load, import, pages, export."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from bench import common
from bench.contacts_data import Dataset

COPY_BLOCK = 1 << 20
SCRATCH = {
    "contacts": "bench_contacts",
    "contact_tags": "bench_tags",
    "consent_events": "bench_events",
}
COPY_COLUMNS = {
    "bench_contacts": "id, phone, first_name, last_name, email, gender, birth_date, "
    "consent_state, consent_source",
    "bench_tags": "contact_id, tag",
    "bench_events": "contact_id, state, evidence",
}
FILES = {
    "bench_contacts": "copy_contacts",
    "bench_tags": "copy_tags",
    "bench_events": "copy_events",
}


def baseline_postgres(conninfo: str, data: Dataset, shop_id: int) -> dict:
    """Bare COPY of the clean rows into scratch copies of the three tables."""
    import psycopg

    timings: dict[str, float] = {}
    with psycopg.connect(conninfo) as conn:
        for source, scratch in SCRATCH.items():
            conn.execute(f"DROP TABLE IF EXISTS {scratch}")
            # Same columns, defaults, constraints and indexes (incl. the search ones).
            conn.execute(f"CREATE TABLE {scratch} (LIKE {source} INCLUDING ALL)")
            conn.execute(f"ALTER TABLE {scratch} ALTER shop_id SET DEFAULT {shop_id}")
        conn.execute(
            "ALTER TABLE bench_contacts ALTER last_import_id SET DEFAULT 1, "
            "ALTER consent_updated_at SET DEFAULT now()"
        )
        conn.execute(
            "ALTER TABLE bench_events ALTER source SET DEFAULT 'import', "
            "ALTER occurred_at SET DEFAULT now()"
        )
        conn.commit()
        for scratch in SCRATCH.values():
            path: Path = getattr(data, FILES[scratch])
            with common.stopwatch(timings, scratch), conn.cursor() as cur:
                statement = f"COPY {scratch} ({COPY_COLUMNS[scratch]}) FROM STDIN"
                with cur.copy(statement) as copy, path.open("rb") as source_file:
                    while block := source_file.read(COPY_BLOCK):
                        copy.write(block)
                conn.commit()
        loaded = conn.execute("SELECT count(*) FROM bench_contacts").fetchone()[0]
        for scratch in SCRATCH.values():
            conn.execute(f"DROP TABLE {scratch}")
        conn.commit()
    return _baseline_result(timings, loaded, "COPY")


def baseline_sqlite(path: str, data: Dataset, shop_id: int) -> dict:
    """SQLite has no COPY: a bare executemany into unindexed scratch tables."""
    timings: dict[str, float] = {}
    conn = sqlite3.connect(path)
    now = datetime.now(UTC).isoformat()
    for scratch, columns in COPY_COLUMNS.items():
        conn.execute(f"DROP TABLE IF EXISTS {scratch}")
        conn.execute(f"CREATE TABLE {scratch} (shop_id, {columns}, stamp)")
    for scratch, columns in COPY_COLUMNS.items():
        marks = ", ".join("?" * (columns.count(",") + 3))
        path_in: Path = getattr(data, FILES[scratch])
        with common.stopwatch(timings, scratch), path_in.open(encoding="utf-8") as lines:
            rows = (
                (shop_id, *(None if v == "\\N" else v for v in line.rstrip("\n").split("\t")), now)
                for line in lines
            )
            conn.executemany(f"INSERT INTO {scratch} VALUES ({marks})", rows)
            conn.commit()
    loaded = conn.execute("SELECT count(*) FROM bench_contacts").fetchone()[0]
    for scratch in COPY_COLUMNS:
        conn.execute(f"DROP TABLE {scratch}")
    conn.commit()
    conn.close()
    return _baseline_result(timings, loaded, "executemany")


def _baseline_result(timings: dict, loaded: int, method: str) -> dict:
    return {
        "method": method,
        "rows": loaded,
        "contacts_s": timings["bench_contacts"],
        "total_s": sum(timings.values()),
    }


def run_import(shop_id: int, csv_path: Path, postmaster_pid: int | None = None) -> dict:
    """Exactly what the upload view and the Huey task do: store_upload, run_import."""
    from astronote.extensions import db
    from astronote.models import ContactImport, Shop
    from astronote.services.contacts import csv_import as contact_import

    result: dict = {}
    db.session.remove()
    shop = db.session.get(Shop, shop_id)
    meter = common.CpuMeter(postmaster_pid)
    start = time.perf_counter()
    with csv_path.open("rb") as stream:
        job = contact_import.store_upload(shop, stream, csv_path.name, "utf-8", 1 << 40)
        db.session.commit()
    result["upload_s"] = time.perf_counter() - start
    job_id = job.id
    db.session.remove()
    rss_before = common.rss_mb()
    peak_reset = common.reset_peak_rss()
    task_start = datetime.now(UTC)
    begin = time.perf_counter()
    contact_import.run_import(job_id)  # the body of tasks.imports.import_contacts
    result["task_s"] = time.perf_counter() - begin
    result["cpu"] = meter.read()
    result["rss_before_mb"] = rss_before
    result["rss_peak_mb"] = common.peak_rss_mb() if peak_reset else float("nan")
    db.session.remove()
    job = db.session.get(ContactImport, job_id)
    # The job's own timestamps split the task: started_at is set after validation.
    result["validate_s"] = (job.started_at - task_start).total_seconds()
    result["write_s"] = (job.finished_at - job.started_at).total_seconds()
    result["total_s"] = result["upload_s"] + result["task_s"]
    result["job"] = {
        "status": job.status,
        "rows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "errors": job.error_count,
    }
    return result


def stored_counts(shop_id: int) -> dict:
    from astronote.extensions import db
    from astronote.models import ConsentEvent, Contact, ContactTag

    def count(model):
        query = select(func.count()).select_from(model).where(model.shop_id == shop_id)
        return db.session.execute(query).scalar_one()

    return {"contacts": count(Contact), "tags": count(ContactTag), "events": count(ConsentEvent)}


def cursor_at(shop_id: int, depth: int) -> int:
    """The id after which the keyset page `depth` rows deep starts."""
    from astronote.extensions import db

    query = text("SELECT id FROM contacts WHERE shop_id = :s ORDER BY id DESC LIMIT 1 OFFSET :n")
    return db.session.execute(query, {"s": shop_id, "n": depth}).scalar_one()


def time_page(client, url: str, headers: dict, repeat: int) -> dict:
    rows: list[int] = []

    def call():
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        rows.append(response.get_data(as_text=True).count("<tr>") - 1)

    times = common.sample_ms(call, repeat)
    return {**common.summary(times), "rows": max(rows[-1], 0)}


def baseline_page_sql(shop_id: int, repeat: int) -> dict:
    """A bare indexed page query through the raw driver connection, no ORM or template."""
    from astronote.extensions import db

    sql = "SELECT * FROM contacts WHERE shop_id = {} ORDER BY id DESC LIMIT 50"
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        mark = "%s" if db.engine.dialect.name == "postgresql" else "?"

        def call():
            cursor.execute(sql.format(mark), (shop_id,))
            cursor.fetchall()

        return common.summary(common.sample_ms(call, repeat))
    finally:
        raw.close()


def time_export(client, headers: dict) -> dict:
    start = time.perf_counter()
    response = client.get("/contacts/export.csv", headers=headers, buffered=False)
    lines, first_byte = 0, None
    for chunk in response.response:
        if first_byte is None:
            first_byte = time.perf_counter() - start
        lines += (chunk if isinstance(chunk, str) else chunk.decode()).count("\n")
    response.close()
    seconds = time.perf_counter() - start
    return {"rows": lines - 1, "seconds": seconds, "first_byte_s": first_byte or 0.0}
