"""The fake token endpoint: demo credentials, consent, the bearer check the API fakes use."""

from __future__ import annotations

import httpx2
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.fakes.ga4 import Ga4Fake
from storelink.fakes.google_auth import (
    ANALYTICS_SCOPES,
    DEMO_ACCESS_TOKEN,
    GSC_SCOPES,
    GoogleTokenFake,
)

pytestmark = pytest.mark.looptime


async def test_issued_tokens_expire_on_the_fake_clock() -> None:
    import asyncio

    fake = GoogleTokenFake(expires_in=60)
    token = fake.issue(ANALYTICS_SCOPES)
    api = Ga4Fake(tokens=fake)
    body = {"metrics": [{"name": "sessions"}]}
    url = "https://analyticsdata.googleapis.com/v1beta/properties/412345678:runReport"
    async with httpx2.AsyncClient(transport=InProcessTransport(api.app)) as client:
        fresh = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        await asyncio.sleep(61)
        stale = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        demo = await client.post(url, json=body, headers={"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"})
    assert fresh.status_code == 200 and stale.status_code == 401 and demo.status_code == 200
    assert fake.rejected_bearer == 1


async def test_a_token_for_another_api_lacks_the_scope() -> None:
    fake = GoogleTokenFake()
    api = Ga4Fake(tokens=fake)
    token = fake.issue(GSC_SCOPES)
    async with httpx2.AsyncClient(transport=InProcessTransport(api.app)) as client:
        answer = await client.post(
            "https://analyticsdata.googleapis.com/v1beta/properties/412345678:runReport",
            json={"metrics": [{"name": "sessions"}]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 403
    assert answer.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


async def test_faults_of_the_api_never_hit_the_token_endpoint() -> None:
    from storelink.fakes.faults import Fault, FaultPlan
    from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN

    api = Ga4Fake(faults=FaultPlan(rates={Fault.SERVER_ERROR: 1.0}))
    form = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": DEMO_REFRESH_TOKEN,
    }
    async with httpx2.AsyncClient(transport=InProcessTransport(api.app)) as client:
        token = await client.post("https://oauth2.googleapis.com/token", data=form)
    assert token.status_code == 200
