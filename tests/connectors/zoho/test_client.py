"""The Zoho Mail connector over its fake: accounts, folders, listing and paging, search, reading,
data centres, errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from storelink.connectors.zoho import ZohoConnector
from storelink.connectors.zoho import models as zoho_models
from storelink.connectors.zoho.client import accounts_url
from storelink.connectors.zoho.dc import DATA_CENTRES, data_centre
from storelink.errors import ConfigurationError, ConnectorError, ErrorKind
from storelink.fakes.data import demo_store
from storelink.fakes.faults import FaultPlan
from storelink.fakes.zoho import ACCOUNT_ID, ZohoFake
from storelink.resilience.limiter import TokenBucketLimiter
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from storelink.stores import ZohoSettings, environment_store, settings_as
from tests.conftest import make_settings
from tests.connectors.zoho.conftest import live_zoho, zoho_connector

pytestmark = pytest.mark.looptime

VIEW = f"GET /api/accounts/{ACCOUNT_ID}/messages/view"


async def test_accounts_and_folders(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        assert zoho.mode == "live"
        [account] = (await zoho.call("list_accounts", {})).data.items
        folders = (await zoho.call("list_folders", {})).data
    store = demo_store()
    assert account.account_id == ACCOUNT_ID and account.email == store.shop.email
    assert account.addresses == [store.shop.email, "orders@apexperformanceparts.example"]
    assert folders.account_id == ACCOUNT_ID
    assert {"Inbox", "Sent", "Spam", "Suppliers"} <= {f.name for f in folders.items}


async def test_list_messages_newest_first_with_paging(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        first = (await zoho.call("list_messages", {"limit": 5})).data
        second = (await zoho.call("list_messages", {"limit": 5, "start": first.next_start})).data
    assert len(first.items) == 5 and first.next_start == 6
    received = [m.received_at for m in first.items + second.items]
    assert all(r is not None for r in received)
    assert received == sorted((r for r in received if r is not None), reverse=True)
    assert not {m.message_id for m in first.items} & {m.message_id for m in second.items}
    inbox = next(fid for fid in {m.folder_id for m in first.items})
    assert all(m.folder_id == inbox for m in first.items + second.items)
    assert all(isinstance(m.received_at, dt.datetime) and m.received_at.tzinfo for m in first.items)


async def test_not_provided_is_no_address(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        page = (await rt.registry.get("zoho").call("list_messages", {"limit": 50, "folder": None})).data
    wire = {m.message_id: m.list_json()["ccAddress"] for m in zoho_fake.messages}
    unaddressed = [m for m in page.items if wire[m.message_id] == "Not Provided"]  # as Zoho lists them
    assert unaddressed and all(m.cc_address is None for m in unaddressed)
    assert all(m.to_address != "Not Provided" for m in page.items)


async def test_large_limits_are_fetched_in_pages_until_a_short_one(
    zoho_fake: ZohoFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoho_models, "PAGE_MAX", 10)
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        part = (await zoho.call("list_messages", {"limit": 25})).data
        assert zoho_fake.stats[VIEW] == 3  # 10 + 10 + 5
        everything = (await zoho.call("list_messages", {"limit": 1000})).data
    inbox = [m for m in zoho_fake.messages if m.folder_id == part.folder_id]
    assert len(part.items) == 25 and part.next_start == 26
    assert len(everything.items) == len(inbox) and everything.next_start is None
    assert len({m.message_id for m in everything.items}) == len(inbox)
    assert zoho_fake.stats[VIEW] == 3 + len(inbox) // 10 + 1


async def test_unread_and_folders_by_name_or_id(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        unread = (await zoho.call("list_messages", {"unread_only": True, "limit": 200})).data
        suppliers = (await zoho.call("list_messages", {"folder": "suppliers"})).data
        by_id = (await zoho.call("list_messages", {"folder": suppliers.folder_id})).data
        everywhere = (await zoho.call("list_messages", {"folder": None, "limit": 200})).data
        with pytest.raises(ConnectorError) as info:
            await zoho.call("list_messages", {"folder": "Invoices"})
    assert unread.items and all(m.unread for m in unread.items)
    assert len(unread.items) == sum(1 for m in zoho_fake.messages if m.unread and m.folder_id == unread.folder_id)
    assert suppliers.items and all(m.from_address and m.from_address.startswith("orders@") for m in suppliers.items)
    assert [m.message_id for m in by_id.items] == [m.message_id for m in suppliers.items]
    assert len(everywhere.items) == len(zoho_fake.messages)
    assert info.value.kind is ErrorKind.INVALID_REQUEST and "Suppliers" in info.value.message


async def test_mail_is_about_real_orders(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    store = demo_store()
    by_name = {o.name: o for o in store.orders}
    async with live_zoho(zoho_fake, tmp_path) as rt:
        found = (await rt.registry.get("zoho").call("search_messages", {"subject": "order #", "limit": 100})).data
    assert len(found.items) >= 10
    for message in found.items:
        name = "#" + message.subject.split("#")[1].split()[0]
        assert by_name[name].email == message.from_address


async def test_search(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        refunds = (await zoho.call("search_messages", {"text": "refund"})).data
        unread_refunds = (await zoho.call("search_messages", {"text": "refund", "unread_only": True})).data
        supplier = (await zoho.call("search_messages", {"sender": "orders@", "query": "subject:PO-"})).data
        with pytest.raises(ConnectorError) as info:
            await zoho.call("search_messages", {})
    assert refunds.items and len(unread_refunds.items) < len(refunds.items)
    assert all(m.unread for m in unread_refunds.items)
    assert supplier.items and all("PO-" in m.subject for m in supplier.items)
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert zoho_fake.stats[f"GET /api/accounts/{ACCOUNT_ID}/messages/search"] == 3


async def test_get_message_turns_html_into_text(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        [po] = (await zoho.call("search_messages", {"subject": "PO-2026-1100"})).data.items
        message = (await zoho.call("get_message", {"message_id": po.message_id, "folder_id": po.folder_id})).data
        fitment = (await zoho.call("search_messages", {"subject": "Fitment", "limit": 1})).data.items[0]
        with_html = (
            await zoho.call(
                "get_message", {"message_id": fitment.message_id, "folder_id": fitment.folder_id, "include_html": True}
            )
        ).data
    assert message.subject == po.subject and message.from_address == po.from_address
    assert "<" not in message.text and "SKU | Item | Qty" in message.text
    assert "PO-2026-1100" in message.text
    assert with_html.html and "<a href" in with_html.html
    assert with_html.links and with_html.links[0].startswith("https://www.apexperformanceparts.example/products/")
    assert with_html.links[0] in with_html.text


async def test_unknown_message_is_not_found(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("get_message", {"message_id": "1", "folder_id": "3881227000000008014"})
    assert info.value.kind is ErrorKind.NOT_FOUND and info.value.upstream_code == "NOT_FOUND"


async def test_reads_are_retried_after_5xx(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        await zoho.call("list_accounts", {})
        zoho_fake.faults = FaultPlan.scripted("500", "503")
        envelope = await zoho.call("list_messages", {"limit": 1, "folder": None})
    assert envelope.meta.attempts == 3


async def test_configured_account_must_exist(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, zoho_account_id="1234") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("list_folders", {})
    assert info.value.kind is ErrorKind.NOT_FOUND and "ZOHO_ACCOUNT_ID" in info.value.message


# -- data centres -----------------------------------------------------------------------------------
async def test_eu_calls_the_eu_hosts(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, zoho_dc="eu") as rt:
        zoho = rt.registry.get("zoho")
        await zoho.call("list_messages", {"limit": 2})
    assert set(zoho_fake.hosts) == {"accounts.zoho.eu", "mail.zoho.eu"}
    assert zoho_fake.hosts["accounts.zoho.eu"] == 1  # one token request


async def test_eu_in_mock_mode_too(tmp_path: Path) -> None:
    async with open_runtime(
        make_settings(tmp_path, zoho_dc="eu"), connectors=[ZohoConnector], store=EmbeddedStore(None)
    ) as rt:
        await rt.registry.get("zoho").call("list_folders", {})
        fake = rt.fakes["zoho"]
    assert isinstance(fake, ZohoFake) and set(fake.hosts) == {"accounts.zoho.eu", "mail.zoho.eu"}


async def test_accounts_url_override(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, zoho_dc="jp", zoho_accounts_url="http://accounts.test:9105/") as rt:
        await rt.registry.get("zoho").call("list_accounts", {})
    assert set(zoho_fake.hosts) == {"accounts.test", "mail.zoho.jp"}


@pytest.mark.parametrize(
    ("code", "accounts", "mail"),
    [
        ("com", "https://accounts.zoho.com", "https://mail.zoho.com"),
        ("EU", "https://accounts.zoho.eu", "https://mail.zoho.eu"),
        ("in", "https://accounts.zoho.in", "https://mail.zoho.in"),
        ("au", "https://accounts.zoho.com.au", "https://mail.zoho.com.au"),
        (".com.au", "https://accounts.zoho.com.au", "https://mail.zoho.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://mail.zoho.jp"),
        ("ca", "https://accounts.zohocloud.ca", "https://mail.zohocloud.ca"),
        ("cn", "https://accounts.zoho.com.cn", "https://mail.zoho.com.cn"),
        ("uk", "https://accounts.zoho.uk", "https://mail.zoho.uk"),
        ("ae", "https://accounts.zoho.ae", "https://mail.zoho.ae"),
    ],
)
def test_data_centres(code: str, accounts: str, mail: str) -> None:
    dc = data_centre(code)
    assert (dc.accounts_url, dc.mail_url) == (accounts, mail)
    assert dc.console_url == accounts.replace("accounts.", "api-console.")


def test_unknown_data_centre_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ZOHO_DC"):
        data_centre("mars")
    with pytest.raises(ConfigurationError):
        ZohoConnector.live_base_url(environment_store(make_settings(tmp_path, zoho_dc="mars")).connector("zoho"))
    assert set(DATA_CENTRES) >= {"com", "eu", "in", "com.au", "jp", "ca"}


def test_mock_mode_on_loopback_takes_tokens_from_the_fake(tmp_path: Path) -> None:
    store = environment_store(make_settings(tmp_path, zoho={"base_url": "http://127.0.0.1:9104"}))
    settings = settings_as(store.connector("zoho"), ZohoSettings)
    assert accounts_url(settings, mode="mock", base_url="http://127.0.0.1:9104") == "http://127.0.0.1:9104"
    assert accounts_url(settings, mode="live", base_url="http://127.0.0.1:9104") == "https://accounts.zoho.com"


async def test_local_pace_is_zohos_unless_configured(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        limiter = zoho_connector(rt).limiter
        assert isinstance(limiter, TokenBucketLimiter)
        assert limiter.capacity + limiter.rate * 60 == pytest.approx(30.0)
    async with live_zoho(zoho_fake, tmp_path, zoho={"rate_limit": 2.0}) as rt:
        limiter = zoho_connector(rt).limiter
        assert isinstance(limiter, TokenBucketLimiter)
        assert limiter.rate == 2.0


async def test_fake_rate_limit_is_met_with_the_local_pace(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        for _ in range(40):  # more than Zoho's 30 a minute: the limiter paces them, nothing is refused
            await zoho.call("list_messages", {"limit": 1})
        assert rt.metrics.counter_value("storelink_throttles", connector="zoho") == 0
