"""Contact import task: thin; the service does the work and the checkpointing."""

from astronote.services.contacts.csv_import import run_import
from astronote.tasks import app_task


@app_task(retries=3, retry_delay=10)
def import_contacts(import_id: int) -> None:
    run_import(import_id)
