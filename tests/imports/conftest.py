import io

import pytest
from sqlalchemy import func, select

from astronote.models import ConsentEvent, Contact, ContactImport, ContactTag


@pytest.fixture
def upload(client, auth):
    """POST a CSV (bytes) to the import form the way the browser does."""

    def post(body: bytes, encoding: str = "utf-8", attested: bool = True, filename="contacts.csv"):
        data = {"file": (io.BytesIO(body), filename), "encoding": encoding}
        if attested:
            data["consent_attested"] = "1"
        return client.post(
            "/contacts/imports", data=data, headers=auth, content_type="multipart/form-data"
        )

    return post


@pytest.fixture
def state(db):
    """Read back what the database holds, for assertions."""

    class State:
        @staticmethod
        def contacts(shop):
            query = select(Contact).filter_by(shop_id=shop.id).order_by(Contact.phone)
            return {c.phone: c for c in db.session.execute(query).scalars()}

        @staticmethod
        def count(model, **filters):
            query = select(func.count()).select_from(model).filter_by(**filters)
            return db.session.execute(query).scalar_one()

        @staticmethod
        def last_import():
            db.session.expire_all()
            query = select(ContactImport).order_by(ContactImport.id.desc()).limit(1)
            return db.session.execute(query).scalar_one()

        @staticmethod
        def tags(contact):
            query = select(ContactTag.tag).filter_by(contact_id=contact.id).order_by(ContactTag.tag)
            return list(db.session.execute(query).scalars())

        @staticmethod
        def history(contact):
            query = select(ConsentEvent).filter_by(contact_id=contact.id).order_by(ConsentEvent.id)
            return list(db.session.execute(query).scalars())

    return State
