"""Fixtures shared by the MCP server's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storelink.fakes.oauth import FakeAuthorizationServer
from tests.support.servers import free_port, serve_in_thread


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeAuthorizationServer]:
    """A fake OAuth authorization server on loopback that mints real RS256 JWTs."""
    port = free_port()
    fake = FakeAuthorizationServer(issuer=f"http://127.0.0.1:{port}")
    with serve_in_thread(fake.app, port):
        yield fake
