"""The Zoho fake pins the contract facts of api-facts.md §5 on the raw wire (OAuth and Mail), and
its mailbox agrees with the demo store."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from storelink.fakes.base import InProcessTransport
from storelink.fakes.data import demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.zoho import (
    ACCOUNT_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_GRANT_CODE,
    DEMO_REFRESH_TOKEN,
    FOLDERS,
    ZohoFake,
    build_mailbox,
)
from tests.support.clocks import ManualClock as Clock

ACCOUNTS = "https://accounts.zoho.com/oauth/v2/token"
MAIL = f"https://mail.zoho.com/api/accounts/{ACCOUNT_ID}"
INBOX = FOLDERS[0][0]


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def fake(clock: Clock) -> ZohoFake:
    return ZohoFake(clock=clock)


@pytest.fixture
async def client(fake: ZohoFake) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app)) as c:
        yield c


REFRESH = {
    "grant_type": "refresh_token",
    "client_id": DEMO_CLIENT_ID,
    "client_secret": DEMO_CLIENT_SECRET,
    "refresh_token": DEMO_REFRESH_TOKEN,
}


async def token(client: httpx2.AsyncClient) -> str:
    r = await client.post(ACCOUNTS, data=REFRESH)
    return str(r.json()["access_token"])


def auth(value: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {value}"}


# -- OAuth ---------------------------------------------------------------------------------------------
async def test_refresh_answer(client: httpx2.AsyncClient) -> None:
    r = await client.post(ACCOUNTS, data=REFRESH)
    body = r.json()
    assert r.status_code == 200
    assert body["access_token"].startswith("1000.") and body["expires_in"] == 3600
    assert body["api_domain"] == "https://www.zohoapis.com" and body["token_type"] == "Bearer"
    # Query-string form is accepted too.
    assert (await client.post(ACCOUNTS, params=REFRESH)).json()["access_token"] != body["access_token"]


async def test_bad_refresh_token_is_200_invalid_code(client: httpx2.AsyncClient) -> None:
    r = await client.post(ACCOUNTS, data={**REFRESH, "refresh_token": "1000.nope"})
    assert (r.status_code, r.json()) == (200, {"error": "invalid_code"})


async def test_ten_token_requests_per_ten_minutes_then_blocked(client: httpx2.AsyncClient, clock: Clock) -> None:
    for _ in range(10):
        assert (await client.post(ACCOUNTS, data=REFRESH)).status_code == 200
        clock.now += 30
    denied = await client.post(ACCOUNTS, data=REFRESH)
    assert denied.status_code == 400
    assert denied.json()["error"] == "Access Denied"
    assert denied.json()["error_description"].startswith("You have made too many requests continuously")
    clock.now = 1590.0  # the window opened by the first request (at 1000) is not over
    assert (await client.post(ACCOUNTS, data=REFRESH)).status_code == 400
    clock.now = 1601.0
    assert (await client.post(ACCOUNTS, data=REFRESH)).status_code == 200


async def test_an_eleventh_live_token_evicts_the_oldest(client: httpx2.AsyncClient, clock: Clock) -> None:
    tokens = []
    for _ in range(11):
        tokens.append(await token(client))
        clock.now += 61  # stay under the request cap
    oldest = await client.get(f"{MAIL}/folders", headers=auth(tokens[0]))
    newest = await client.get(f"{MAIL}/folders", headers=auth(tokens[-1]))
    assert oldest.status_code == 401 and oldest.json()["data"]["errorCode"] == "INVALID_OAUTHTOKEN"
    assert newest.status_code == 200


async def test_access_tokens_live_an_hour(client: httpx2.AsyncClient, clock: Clock) -> None:
    value = await token(client)
    clock.now += 3599
    assert (await client.get(f"{MAIL}/folders", headers=auth(value))).status_code == 200
    clock.now += 2
    assert (await client.get(f"{MAIL}/folders", headers=auth(value))).status_code == 401


async def test_grant_code_exchange(client: httpx2.AsyncClient) -> None:
    form = {"grant_type": "authorization_code", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    r = await client.post(ACCOUNTS, data={**form, "code": DEMO_GRANT_CODE})
    assert r.json()["refresh_token"] == DEMO_REFRESH_TOKEN
    again = await client.post(ACCOUNTS, data={**form, "code": DEMO_GRANT_CODE})
    assert again.json() == {"error": "invalid_code"}  # single use


# -- Mail ------------------------------------------------------------------------------------------------
async def test_envelope_and_accounts(client: httpx2.AsyncClient) -> None:
    r = await client.get("https://mail.zoho.com/api/accounts", headers=auth(await token(client)))
    body = r.json()
    assert body["status"] == {"code": 200, "description": "success"}
    [account] = body["data"]
    assert account["accountId"] == ACCOUNT_ID and isinstance(account["accountId"], str)
    primary = [a for a in account["emailAddress"] if a["isPrimary"]]
    assert primary[0]["mailId"] == demo_store().shop.email
    assert account["mailboxStatus"] == "enabled" and account["type"] == "ZOHO_ACCOUNT"


async def test_missing_and_bad_credentials(client: httpx2.AsyncClient) -> None:
    missing = await client.get(f"{MAIL}/folders")
    assert missing.status_code == 400
    assert missing.json() == {
        "data": {"errorCode": "INVALID_TICKET", "moreInfo": "Invalid ticket"},
        "status": {"code": 400, "description": "Invalid Input"},
    }
    bad = await client.get(f"{MAIL}/folders", headers=auth("1000.forged"))
    assert bad.status_code == 401
    assert bad.json() == {
        "data": {"errorCode": "INVALID_OAUTHTOKEN"},
        "status": {"code": 401, "description": "Invalid Access"},
    }


async def test_list_item_fields_are_strings(client: httpx2.AsyncClient) -> None:
    r = await client.get(
        f"{MAIL}/messages/view", params={"folderId": INBOX, "limit": 3}, headers=auth(await token(client))
    )
    items = r.json()["data"]
    assert len(items) == 3
    for item in items:
        for key in ("messageId", "folderId", "threadId", "receivedTime", "sentDateInGMT", "size", "status"):
            assert isinstance(item[key], str) and item[key]
        assert item["status"] in ("0", "1") and item["hasAttachment"] in ("0", "1")
    assert [int(i["receivedTime"]) for i in items] == sorted((int(i["receivedTime"]) for i in items), reverse=True)


async def test_paging_unread_and_limits(client: httpx2.AsyncClient) -> None:
    headers = auth(await token(client))

    async def view(**params: Any) -> httpx2.Response:
        return await client.get(f"{MAIL}/messages/view", params={"folderId": INBOX, **params}, headers=headers)

    default = (await view()).json()["data"]
    assert len(default) == 10  # Zoho's default limit
    first, second = (await view(start=1, limit=5)).json()["data"], (await view(start=6, limit=5)).json()["data"]
    assert [m["messageId"] for m in first + second] == [m["messageId"] for m in default]
    unread = (await view(status="unread", limit=200)).json()["data"]
    assert unread and all(m["status"] == "0" for m in unread)
    assert (await view(limit=201)).status_code == 400
    assert (await view(start=0)).status_code == 400
    oldest_first = (await view(sortorder="true", limit=3)).json()["data"]
    assert int(oldest_first[0]["receivedTime"]) < int(default[-1]["receivedTime"])


async def test_search_syntax(client: httpx2.AsyncClient) -> None:
    headers = auth(await token(client))

    async def search(key: str, **params: Any) -> httpx2.Response:
        return await client.get(f"{MAIL}/messages/search", params={"searchKey": key, **params}, headers=headers)

    refunds = (await search("subject:refund", limit=50)).json()["data"]
    assert refunds and all("refund" in m["subject"].lower() for m in refunds)
    both = (await search("subject:refund::newMails", limit=50)).json()["data"]
    assert all(m["status"] == "0" for m in both) and len(both) < len(refunds)
    assert (await search("")).status_code == 400
    assert (await search("colour:red")).status_code == 400
    oldest = min(int(m["receivedTime"]) for m in refunds)
    before = (await search("subject:refund", receivedTime=str(oldest + 1))).json()["data"]
    assert [int(m["receivedTime"]) for m in before] == [oldest]


async def test_content_is_html(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    message = fake.messages[0]
    r = await client.get(
        f"{MAIL}/folders/{message.folder_id}/messages/{message.message_id}/content", headers=auth(await token(client))
    )
    data = r.json()["data"]
    assert data["messageId"] == message.message_id and data["content"].startswith("<div>")
    missing = await client.get(f"{MAIL}/folders/{INBOX}/messages/1/content", headers=auth(await token(client)))
    assert missing.status_code == 404 and missing.json()["data"]["errorCode"] == "NOT_FOUND"


async def test_send_delivers_once_and_files_it_in_sent(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    body = {
        "fromAddress": demo_store().shop.email,
        "toAddress": "a@example.com",
        "subject": "Hi",
        "content": "<p>x</p>",
    }
    r = await client.post(f"{MAIL}/messages", json=body, headers=auth(await token(client)))
    assert r.status_code == 200 and r.json()["data"]["messageId"]
    assert fake.deliveries == [body]
    assert fake.messages[-1].folder_id == {n: i for i, n, _ in FOLDERS}["Sent"]
    wrong = await client.post(
        f"{MAIL}/messages", json={**body, "fromAddress": "x@elsewhere.example"}, headers=auth(await token(client))
    )
    assert wrong.status_code == 400 and len(fake.deliveries) == 1


async def test_reply_lost_after_delivery(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    fake.after_delivery = FaultPlan.scripted("502")
    body = {"fromAddress": demo_store().shop.email, "toAddress": "a@example.com", "subject": "Hi", "content": "x"}
    r = await client.post(f"{MAIL}/messages", json=body, headers=auth(await token(client)))
    assert r.status_code == 502 and len(fake.deliveries) == 1  # it was sent; the caller cannot know


async def test_mail_rate_is_about_thirty_a_minute(client: httpx2.AsyncClient, clock: Clock) -> None:
    headers = auth(await token(client))
    statuses = [(await client.get(f"{MAIL}/folders", headers=headers)).status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    throttled = await client.get(f"{MAIL}/folders", headers=headers)
    assert throttled.json()["data"]["errorCode"] == "TOO_MANY_REQUESTS" and int(throttled.headers["retry-after"]) >= 1
    clock.now += 61
    assert (await client.get(f"{MAIL}/folders", headers=headers)).status_code == 200


async def test_faults_speak_zoho(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    value = await token(client)
    fake.faults = FaultPlan.scripted("500", "401")
    failed = await client.get(f"{MAIL}/folders", headers=auth(value))
    expired = await client.get(f"{MAIL}/folders", headers=auth(value))
    assert failed.status_code == 500 and failed.json()["status"]["code"] == 500
    assert expired.status_code == 401 and expired.json()["data"]["errorCode"] == "INVALID_OAUTHTOKEN"


# -- agreement with the store ------------------------------------------------------------------------------
def test_mailbox_names_real_orders_products_and_skus() -> None:
    store = demo_store()
    orders = {o.name: o for o in store.orders}
    skus = {v.sku for v in store.variants}
    mailbox = build_mailbox()
    assert mailbox == build_mailbox()  # deterministic
    mentioned = 0
    for message in mailbox:
        text = html.unescape(message.html)
        for name in re.findall(r"#\d{4}", message.subject):
            order = orders[name]
            assert order.email == message.from_address or message.folder_id == FOLDERS[4][0]
            if "ship" in message.subject or "missing" in message.subject:
                assert all(li.sku in text for li in order.line_items)  # the customer lists the order
            mentioned += 1
        for sku in re.findall(r"\b[A-Z]{3}-[A-Z]{2}-\d{4}-[A-Z]{4}\b", text):
            assert sku in skus
    assert mentioned >= 15
    assert all(m.received_ms <= int(store.as_of.timestamp() * 1000) for m in mailbox)


# -- faults: the accounts server and the Mail API fail independently ---------------------------------------
async def test_mail_faults_never_reach_the_token_endpoint(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    fake.faults = FaultPlan(rates={Fault("500"): 1.0})
    assert (await client.post(ACCOUNTS, data=REFRESH)).status_code == 200
    assert (await client.get(f"{MAIL}/folders", headers=auth(await token(client)))).status_code == 500
    assert fake.faults.injected == {"500": 1}


async def test_token_faults_speak_oauth_and_spare_the_mail_api(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    value = await token(client)
    fake.token_faults = FaultPlan.scripted("429", "503", "401", retry_after_s=7)
    throttled = await client.post(ACCOUNTS, data=REFRESH)
    failed = await client.post(ACCOUNTS, data=REFRESH)
    refused = await client.post(ACCOUNTS, data=REFRESH)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
    assert throttled.json() == {"error": "Too Many Requests"}
    assert failed.status_code == 503 and "error" in failed.json()
    assert refused.status_code == 401 and refused.json() == {"error": "invalid_client"}
    assert (await client.get(f"{MAIL}/folders", headers=auth(value))).status_code == 200
    assert fake.stats["POST /oauth/v2/token"] == 4


async def test_token_faults_are_set_at_run_time(client: httpx2.AsyncClient, fake: ZohoFake) -> None:
    r = await client.put("https://accounts.zoho.com/_fake/token_faults", json={"script": ["502"]})
    assert r.status_code == 200 and r.json()["script"] == ["502"]
    assert (await client.post(ACCOUNTS, data=REFRESH)).status_code == 502
    got = await client.get("https://accounts.zoho.com/_fake/token_faults")
    assert got.json()["injected"] == {"502": 1} and fake.faults.injected == {}
