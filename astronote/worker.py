"""Consumer entry point: `huey_consumer astronote.worker.huey`."""

from astronote import create_app
from astronote.tasks import huey  # noqa: F401  (the consumer loads this name)

app = create_app()

import astronote.tasks.automations  # noqa: E402,F401  (registers the tasks)
import astronote.tasks.billing  # noqa: E402,F401
import astronote.tasks.campaigns  # noqa: E402,F401
import astronote.tasks.imports  # noqa: E402,F401
import astronote.tasks.inbox  # noqa: E402,F401
import astronote.tasks.periodic  # noqa: E402,F401
import astronote.tasks.shopify  # noqa: E402,F401
