import pytest

from astronote.services.messaging import public_limits
from tests.sending.conftest import funded, mitto_sim, read, sim, subscribers  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_public_limits():
    """Public limits live in a shared file without Redis; each test starts clean."""
    public_limits.reset()
