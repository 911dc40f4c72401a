"""The billing tests' guard against reaching the network (tests/billing/conftest.py)."""

import socket

import pytest


def test_it_stops_and_records_a_connection_to_a_non_loopback_address(network_guard):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError, match="must not reach the network"):
            sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    finally:
        sock.close()
    assert network_guard == [("192.0.2.1", 443)]
    network_guard.clear()  # recorded as expected; let this test pass


def test_it_lets_loopback_connections_through(network_guard):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()
    assert network_guard == []
