"""CSV import: store the upload, validate the whole file, then upsert in batches.

Validation reads the file end to end before anything is written, so a broken
file fails cleanly. Each batch commits with its progress checkpoint, so a
worker that dies resumes where the last commit left off: no row twice, none lost.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

from sqlalchemy import func, select, text

from astronote.errors import NotFound, ValidationFailed
from astronote.extensions import db
from astronote.models import (
    ContactImport,
    ContactImportChunk,
    ContactImportError,
    ImportStatus,
    Shop,
    now_utc,
)
from astronote.services import contact_counts
from astronote.services.batch_writer import InlineWriter, ThreadedWriter
from astronote.services.contact_rows import RowError, parse_row
from astronote.services.contact_upsert import write_batch
from astronote.services.csv_stream import ENCODINGS, CsvFileError, map_header, open_rows

CHUNK_BYTES = 1 << 20
BATCH_ROWS = 10_000
ANALYZE_AFTER_ROWS = 10_000
log = logging.getLogger("astronote.imports")


def store_upload(shop: Shop, stream, filename: str, encoding: str, max_bytes: int) -> ContactImport:
    """Copy the uploaded file into the database in 1 MiB chunks (flat memory)."""
    if encoding not in ENCODINGS:
        raise ValidationFailed({"encoding": "Choose an encoding from the list."})
    if not filename:
        raise ValidationFailed({"file": "Choose a CSV file to import."})
    job = ContactImport(shop_id=shop.id, filename=filename[:255], encoding=encoding)
    db.session.add(job)
    db.session.flush()
    size, seq = 0, 0
    while chunk := stream.read(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise ValidationFailed({"file": f"The file is larger than {max_bytes >> 20} MB."})
        # Core insert: ORM objects would keep every chunk alive in the session.
        db.session.execute(
            ContactImportChunk.__table__.insert().values(import_id=job.id, seq=seq, data=chunk)
        )
        seq += 1
    if size == 0:
        raise ValidationFailed({"file": "The file is empty."})
    job.size_bytes = size
    return job


def _chunks(import_id: int) -> Iterator[bytes]:
    seq = 0
    while True:
        data = db.session.execute(
            select(ContactImportChunk.data).filter_by(import_id=import_id, seq=seq)
        ).scalar_one_or_none()
        if data is None:
            return
        yield data
        seq += 1


def get_import(shop: Shop, import_id: int) -> ContactImport:
    job = db.session.execute(
        select(ContactImport).filter_by(id=import_id, shop_id=shop.id)
    ).scalar_one_or_none()
    if job is None:
        raise NotFound("That import does not exist.")
    return job


def recent_imports(shop: Shop, limit: int = 5) -> list[ContactImport]:
    query = select(ContactImport).filter_by(shop_id=shop.id).order_by(ContactImport.id.desc())
    return list(db.session.execute(query.limit(limit)).scalars())


def _validate(job: ContactImport) -> int:
    """Read the whole file; return the data-row count or raise CsvFileError."""
    header, rows = open_rows(lambda: _chunks(job.id), job.encoding)
    map_header(header)
    return sum(1 for _ in rows)


def run_import(import_id: int) -> None:
    """Task body: validate, then write batches from the last checkpoint. Commits."""
    job = db.session.get(ContactImport, import_id)
    if job is None or ImportStatus(job.status).is_final:
        return
    shop = db.session.get(Shop, job.shop_id)
    try:
        if job.status == ImportStatus.QUEUED:
            job.total_rows = _validate(job)
            job.status, job.started_at = ImportStatus.RUNNING, now_utc()
            db.session.commit()
        _write(job, shop)
    except CsvFileError as exc:
        db.session.rollback()
        _fail(job, str(exc))
        return
    contact_counts.recount(shop.id)
    _refresh_statistics(job)
    job.status, job.finished_at = ImportStatus.COMPLETED, now_utc()
    db.session.commit()
    log.info(
        "import %s completed: %s created, %s updated, %s errors",
        job.id,
        job.created_count,
        job.updated_count,
        job.error_count,
    )


def _refresh_statistics(job: ContactImport) -> None:
    """ANALYZE after a bulk import: the planner must not meet a million rows blind.

    Autovacuum would get there within minutes; until then, stale statistics can
    turn an indexed search into a full scan (seconds instead of milliseconds).
    """
    written = job.created_count + job.updated_count
    if written >= ANALYZE_AFTER_ROWS and db.session.get_bind().dialect.name == "postgresql":
        for table in ("contacts", "contact_tags"):
            db.session.execute(text(f"ANALYZE {table}"))


def _fail(job: ContactImport, reason: str) -> None:
    job.status, job.failure_reason, job.finished_at = ImportStatus.FAILED, reason, now_utc()
    db.session.commit()
    log.warning("import %s failed: %s", job.id, reason)


def _writer(job: ContactImport, shop: Shop, present: set[str]):
    """Batches commit on a second thread on PostgreSQL (overlapping parse and I/O)."""
    commit = functools.partial(_commit_batch, shop_id=shop.id, present=present)
    if db.session.get_bind().dialect.name != "postgresql":
        return InlineWriter(commit, job)
    job_id = job.id
    return ThreadedWriter(commit, lambda: db.session.get(ContactImport, job_id))


def _write(job: ContactImport, shop: Shop) -> None:
    header, rows = open_rows(lambda: _chunks(job.id), job.encoding)
    columns = map_header(header)
    done, region, width = job.processed_rows, shop.default_region, len(header)
    writer = _writer(job, shop, set(columns))
    batch, seen, pending_errors, position = [], {}, [], 0
    try:
        for line, row in rows:
            position += 1
            if position <= done:
                continue  # committed before a restart
            try:
                record = parse_row(line, row, columns, width, region)
            except RowError as exc:
                pending_errors.append(exc)
            else:
                if record.phone in seen:
                    message = f"Duplicate phone: same as line {seen[record.phone]}."
                    pending_errors.append(RowError(line, record.phone, message))
                else:
                    seen[record.phone] = line
                    batch.append(record)
            if position - done >= BATCH_ROWS:
                writer.submit(batch, pending_errors, position)
                done, batch, seen, pending_errors = position, [], {}, []
        writer.submit(batch, pending_errors, position)
    except BaseException:
        writer.close(reraise=False)
        raise
    writer.close()
    db.session.expire(job)  # the writer thread updated the counters in its own session


def _commit_batch(job, batch, errors, position, *, shop_id: int, present: set[str]) -> None:
    outcome = write_batch(shop_id, job.id, present, batch) if batch else None
    if outcome:
        errors = errors + outcome.errors
        job.created_count += outcome.created
        job.updated_count += outcome.updated
    if errors:
        db.session.execute(
            ContactImportError.__table__.insert(),
            [
                {
                    "import_id": job.id,
                    "row_number": e.line,
                    "phone": e.phone,
                    "message": e.message[:255],
                }
                for e in errors
            ],
        )
    job.error_count += len(errors)
    job.processed_rows = position
    db.session.commit()


def error_rows(job: ContactImport, after_line: int = 0, limit: int = 5000):
    query = (
        select(ContactImportError)
        .filter_by(import_id=job.id)
        .where(ContactImportError.row_number > after_line)
        .order_by(ContactImportError.row_number)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def error_total(job: ContactImport) -> int:
    query = select(func.count()).select_from(ContactImportError).filter_by(import_id=job.id)
    return db.session.execute(query).scalar_one()
