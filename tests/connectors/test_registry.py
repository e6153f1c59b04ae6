"""The registry's answer to a name it does not know: short, whatever the name's size."""

from __future__ import annotations

import pytest

from storelink.connectors.registry import Registry
from storelink.errors import ConnectorError, ErrorKind


def test_an_unknown_connector_is_named_briefly() -> None:
    with pytest.raises(ConnectorError) as info:
        Registry([]).get("x" * 500_000)
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert len(info.value.message) < 200 and len(info.value.connector or "") <= 80
