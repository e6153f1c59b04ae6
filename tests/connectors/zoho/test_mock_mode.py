"""Mock mode with no credentials: both connectors run their real code against their fakes, the
equivalent of `storelink call zoho list_messages -p limit=5 --json` and `storelink call bing query_stats --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storelink.connectors.bing import BingConnector
from storelink.connectors.zoho import ZohoConnector
from storelink.errors import ConnectorError, ErrorKind
from storelink.runtime import open_runtime
from tests.conftest import make_settings


async def test_mock_mode_without_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # the embedded store under data_dir, as the CLI opens it
    async with open_runtime(settings, connectors=[BingConnector, ZohoConnector]) as rt:
        zoho, bing = rt.registry.get("zoho"), rt.registry.get("bing")
        assert (zoho.mode, bing.mode) == ("mock", "mock")
        assert zoho.ctx.missing == ["ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN"]
        assert bing.ctx.missing == ["BING_WMT_API_KEY"]
        mail = (await zoho.call("list_messages", {"limit": 5})).model_dump(mode="json")
        stats = (await bing.call("query_stats", {})).model_dump(mode="json")
        health = [await c.health() for c in rt.registry]
    json.dumps([mail, stats])  # what `--json` prints
    assert mail["meta"] == mail["meta"] | {"connector": "zoho", "operation": "list_messages", "mode": "mock"}
    assert len(mail["data"]["items"]) == 5 and mail["data"]["next_start"] == 6
    assert all(m["subject"] and m["from_address"] for m in mail["data"]["items"])
    assert stats["meta"]["mode"] == "mock" and len(stats["data"]["items"]) == 50
    assert stats["data"]["site_url"] == "https://www.apexperformanceparts.example/"
    assert [h.status for h in health] == ["ok", "ok"]


async def test_writes_in_mock_mode_need_the_allow_list_too(tmp_path: Path) -> None:
    async with open_runtime(make_settings(tmp_path), connectors=[ZohoConnector]) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("send_message", {"to": ["a@b.example"], "subject": "s", "content": "c"})
    assert info.value.kind is ErrorKind.DISABLED
    async with open_runtime(make_settings(tmp_path, allow_writes="zoho.*"), connectors=[ZohoConnector]) as rt:
        sent = await rt.registry.get("zoho").call(
            "send_message", {"to": ["a@b.example"], "subject": "s", "content": "c"}
        )
        assert sent.meta.mode == "mock" and sent.data.message_id
