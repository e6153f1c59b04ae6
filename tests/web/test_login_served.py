"""Login limits through a real `storelink serve` (uvicorn) on loopback, as a probe would see them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest

from tests.support.servers import storelink_serve

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"


def test_forwarded_for_does_not_multiply_login_attempts(tmp_path: Path) -> None:
    env = {"STORELINK_DASHBOARD_PASSWORD": PASSWORD, "MCP_FORCE_MOCKS": "true"}
    with storelink_serve(tmp_path, env) as url, httpx2.Client(base_url=url) as c:
        statuses = []
        for i in range(30):
            spoofed = {"x-forwarded-for": f"198.51.100.{i}"}
            page = c.get("/app/login", headers={"accept": "text/html", **spoofed})
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            response = c.post("/app/login", data={"csrf_token": token.group(1), "password": "nope"}, headers=spoofed)
            statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 25
