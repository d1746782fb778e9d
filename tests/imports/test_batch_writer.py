"""The threaded import writer hands its failure to the parser, and never leaves it blocked."""

import threading

import pytest

from astronote.extensions import db
from astronote.services.contacts.batch_writer import ThreadedWriter


def test_a_writer_whose_connection_died_still_fails_fast(app, monkeypatch):
    def commit(state, batch):
        raise ConnectionError("server closed the connection")

    def rollback():
        raise ConnectionError("and rolling back needs it too")

    monkeypatch.setattr(db.session, "rollback", rollback)
    writer = ThreadedWriter(commit, load=lambda: None)
    outcome: list = []

    def parser():
        try:
            for n in range(20):  # far more batches than the queue holds
                writer.submit(n)
            writer.close()
        except ConnectionError as exc:
            writer.close(reraise=False)
            outcome.append(exc)

    thread = threading.Thread(target=parser, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the parser is blocked on a dead writer"
    assert [str(e) for e in outcome] == ["server closed the connection"]


def test_batches_are_committed_in_order(app):
    seen = []
    writer = ThreadedWriter(lambda state, n: seen.append((state, n)), load=lambda: "state")
    for n in range(7):
        writer.submit(n)
    writer.close()
    assert seen == [("state", n) for n in range(7)]


@pytest.fixture(autouse=True)
def _fresh_session(app):
    yield
    db.session.remove()
