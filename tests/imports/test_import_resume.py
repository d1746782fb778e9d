"""A worker that dies mid-import resumes from the last committed batch."""

import io

import pytest
from sqlalchemy import select

from astronote.extensions import db
from astronote.models import ContactImportError, ImportStatus
from astronote.services.contacts import csv_import as contact_import
from astronote.services.contacts import upsert as contact_upsert


def _store(shop, body: bytes):
    job = contact_import.store_upload(shop, io.BytesIO(body), "c.csv", "utf-8", 10 << 20)
    db.session.commit()
    return job


def test_crash_after_some_batches_resumes_without_duplicates_or_loss(shop, state, monkeypatch):
    monkeypatch.setattr(contact_import, "BATCH_ROWS", 10)
    rows = b"".join(b"+1415555%04d,N%d\n" % (n, n) for n in range(1000, 1045))
    job = _store(shop, b"phone,first_name\n" + rows + b"bad,row\n")
    real_write, calls = contact_upsert.write_batch, []

    def dying_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(contact_import, "write_batch", dying_write)
    with pytest.raises(RuntimeError):
        contact_import.run_import(job.id)
    db.session.rollback()
    crashed = state.last_import()
    assert (crashed.status, crashed.processed_rows) == (ImportStatus.RUNNING, 20)

    contact_import.run_import(job.id)  # the task's retry
    done = state.last_import()
    assert (done.status, done.processed_rows, done.total_rows) == ("completed", 46, 46)
    assert (done.created_count, done.updated_count, done.error_count) == (45, 0, 1)
    assert len(state.contacts(shop)) == 45
    assert state.count(ContactImportError, import_id=job.id) == 1


def test_chunk_boundaries_inside_multibyte_characters(shop, state, monkeypatch):
    monkeypatch.setattr(contact_import, "CHUNK_BYTES", 7)
    names = ["Zoë", "Χρύσα", "Ελένη", "Łukasz", "Chloé"]
    body = "phone,first_name\n" + "".join(
        f"+1415555{1000 + i},{name}\n" for i, name in enumerate(names)
    )
    job = _store(shop, body.encode())
    chunks = db.session.execute(select(contact_import.ContactImportChunk.seq)).all()
    assert len(chunks) > 10
    contact_import.run_import(job.id)
    assert sorted(c.first_name for c in state.contacts(shop).values()) == sorted(names)


def test_progress_fragment_polls_until_final(shop, client, auth):
    job = _store(shop, b"phone\n+14155550123\n")
    polling = client.get(f"/contacts/imports/{job.id}/progress", headers=auth)
    assert polling.status_code == 200
    assert 'hx-trigger="every 1s"' in polling.get_data(as_text=True)
    contact_import.run_import(job.id)
    final = client.get(f"/contacts/imports/{job.id}/progress", headers=auth)
    assert final.status_code == 286
    assert "hx-trigger" not in final.get_data(as_text=True)
    assert "Import complete" in final.get_data(as_text=True)
