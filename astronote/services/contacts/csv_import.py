"""CSV import: store the upload, validate the whole file, then upsert in batches.

Validation reads the file end to end before anything is written, so a broken
file fails cleanly. Each batch commits with its progress checkpoint, so a
worker that dies resumes where the last commit left off: no row twice, none lost.

Transaction owner: each batch commits with its checkpoint.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

from sqlalchemy import func, select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import (
    ContactImport,
    ContactImportChunk,
    ContactImportError,
    ImportStatus,
    Shop,
    now_utc,
)
from astronote.services.contacts import copy_rows as contact_copy
from astronote.services.contacts import counts as contact_counts
from astronote.services.contacts.batch_writer import InlineWriter, ThreadedWriter
from astronote.services.contacts.csv_reading import ENCODINGS, CsvFileError, map_header, open_rows
from astronote.services.contacts.csv_rows import RowError, layout, parse_row
from astronote.services.contacts.upsert import import_evidence, write_batch
from astronote.services.scoped import get_owned
from astronote.services.sql import on_postgres, vacuum_analyze

CHUNK_BYTES = 1 << 20
BATCH_ROWS = 20_000
FIRST_BATCH_ROWS = 1_000  # batches double up to BATCH_ROWS: the writer starts at once
VACUUM_AFTER_ROWS = 10_000
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
    return get_owned(ContactImport, shop.id, import_id, "import")


def recent_imports(shop: Shop, limit: int = 5) -> list[ContactImport]:
    query = select(ContactImport).filter_by(shop_id=shop.id).order_by(ContactImport.id.desc())
    return list(db.session.execute(query.limit(limit)).scalars())


def _validate(job: ContactImport) -> int:
    """Read the whole file; return the data-row count or raise CsvFileError."""
    header, rows = open_rows(lambda: _chunks(job.id), job.encoding)
    map_header(header)
    return sum(map(bool, rows))  # every row is a truthy (line, fields) pair


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
    job.status, job.finished_at = ImportStatus.COMPLETED, now_utc()
    db.session.commit()
    log.info(
        "import %s completed: %s created, %s updated, %s errors",
        job.id,
        job.created_count,
        job.updated_count,
        job.error_count,
    )


def _fail(job: ContactImport, reason: str) -> None:
    job.status, job.failure_reason, job.finished_at = ImportStatus.FAILED, reason, now_utc()
    db.session.commit()
    log.warning("import %s failed: %s", job.id, reason)


def _writer(job: ContactImport, shop: Shop, present: set[str]):
    """(writer, prepare). On PostgreSQL batches commit on a second thread while the
    next ones are parsed, and the parsing thread also encodes their COPY rows."""
    commit = functools.partial(_commit_batch, shop_id=shop.id, present=present)
    if not on_postgres():
        return InlineWriter(commit, job), lambda batch: batch
    job_id, shop_id, evidence = job.id, shop.id, import_evidence(job.id)
    writer = ThreadedWriter(commit, lambda: db.session.get(ContactImport, job_id))

    def prepare(batch):
        prepared = contact_copy.prepare(shop_id, job_id, evidence, batch)
        # Taking ids gives this (read-only) transaction an xid: held open for the whole
        # import, it would keep VACUUM from marking any imported row visible to all.
        db.session.commit()
        return prepared

    return writer, prepare


def _write(job: ContactImport, shop: Shop) -> None:
    header, rows = open_rows(lambda: _chunks(job.id), job.encoding)
    plan = layout(map_header(header), len(header))
    done = start = job.processed_rows
    region = shop.default_region
    writer, prepare = _writer(job, shop, plan.present)
    batch, seen, pending_errors, position = [], {}, [], 0
    size = min(FIRST_BATCH_ROWS, BATCH_ROWS)
    try:
        for line, row in rows:
            position += 1
            if position <= done:
                continue  # committed before a restart
            try:
                record = parse_row(line, row, plan, region)
            except RowError as exc:
                pending_errors.append(exc)
            else:
                if record.phone in seen:
                    message = f"Duplicate phone: same as line {seen[record.phone]}."
                    pending_errors.append(RowError(line, record.phone, message))
                else:
                    seen[record.phone] = line
                    batch.append(record)
            if position - done >= size:
                writer.submit(prepare(batch), pending_errors, position)
                done, batch, seen, pending_errors = position, [], {}, []
                size = min(2 * size, BATCH_ROWS)
        writer.submit(prepare(batch), pending_errors, position)
        if position - start >= VACUUM_AFTER_ROWS:  # while the writer commits the last batch
            vacuum_analyze("contacts", "contact_tags")
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
