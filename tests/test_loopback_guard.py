"""The autouse guard in conftest fails a test that leaves loopback, and lets loopback pass."""

import socket

import pytest

from tests.conftest import _is_loopback


def test_a_connection_off_the_machine_is_refused_and_recorded(only_loopback):
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="loopback"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routable
    assert only_loopback == [("192.0.2.1", 80)]  # teardown fails the test on this record
    only_loopback.clear()  # ... so clear it: this test wanted the refusal


def test_loopback_connections_pass(only_loopback):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert only_loopback == []


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (("127.0.0.1", 80), True),
        (("127.10.0.3", 80), True),
        (("::1", 80, 0, 0), True),
        (("localhost", 80), True),
        ("/tmp/socket", True),
        (("10.0.0.1", 80), False),
        (("example.com", 443), False),
        (("2001:db8::1", 443, 0, 0), False),
    ],
)
def test_loopback_addresses(address, expected):
    assert _is_loopback(address) is expected
