"""send_message: off unless allowed, sent once, audited before and after every attempt, even when
timeouts and 5xx strike before the upstream acts and after it did (the reply lost); an unknown
outcome is reconciled from the Sent folder when the message is there."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from storelink.audit import embedded_trail
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.zoho import ACCOUNT_ID, ZohoFake
from storelink.fakes.zoho_mailbox import folder_id
from tests.connectors.zoho.conftest import live_zoho

pytestmark = pytest.mark.looptime

SEND = f"POST /api/accounts/{ACCOUNT_ID}/messages"
MAIL = {"to": ["ava.smith@example.net"], "subject": "Re: Order #6690", "content": "Hi Ava,\nIt ships today."}


async def test_refused_unless_allowed(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, allow_writes="bing.submit_urls") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("send_message", MAIL)
    assert info.value.kind is ErrorKind.DISABLED
    assert "STORELINK_ALLOW_WRITES" in info.value.message and "zoho.send_message" in info.value.message
    assert zoho_fake.deliveries == [] and zoho_fake.stats[SEND] == 0


async def test_sent_once_and_visible_in_sent(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, allow_writes="zoho.send_message") as rt:
        zoho = rt.registry.get("zoho")
        mail = {**MAIL, "cc": "orders@apexperformanceparts.example"}
        sent = (await zoho.call("send_message", mail)).data
        box = (await zoho.call("list_messages", {"folder": "Sent", "limit": 1})).data
        again = (await zoho.call("send_message", {**mail, "idempotency_key": sent.idempotency_key})).data
        audit = await embedded_trail(rt.store).call(sent.idempotency_key, with_attempts=True)
    assert sent.message_id and sent.from_address == "support@apexperformanceparts.example"
    assert box.items[0].message_id == sent.message_id and box.items[0].subject == MAIL["subject"]
    assert again.replayed and again.message_id == sent.message_id
    assert len(zoho_fake.deliveries) == 1
    delivered = zoho_fake.deliveries[0]
    assert delivered["toAddress"] == "ava.smith@example.net" and delivered["mailFormat"] == "plaintext"
    assert delivered["ccAddress"] == "orders@apexperformanceparts.example"
    assert audit is not None and audit.outcome == "ok" and audit.replays == 1
    assert [a.outcome for a in audit.attempts] == ["ok"]
    assert "ava.smith@example.net" in audit.summary and "It ships today" not in audit.summary  # no body


async def test_from_must_be_the_accounts(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path, allow_writes="*") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("send_message", {**MAIL, "from_address": "ceo@elsewhere.example"})
    assert info.value.kind is ErrorKind.INVALID_REQUEST and "nothing was sent" in info.value.message
    assert zoho_fake.stats[SEND] == 0


def test_addresses_are_checked_before_anything() -> None:
    from storelink.connectors.zoho.models import SendMessageParams

    assert SendMessageParams(to="a@x.example, b@y.example", subject="s", content="c").to == [
        "a@x.example",
        "b@y.example",
    ]
    with pytest.raises(ValueError, match="not an e-mail address"):
        SendMessageParams(to=["Ava <ava@example.net>"], subject="s", content="c")


async def test_reply_lost_after_delivery_is_reconciled_from_the_sent_folder(
    zoho_fake: ZohoFake, tmp_path: Path
) -> None:
    """The reply to a delivered send is lost: the outcome is unknown. Called again with its key, the
    send is not made again: the Sent folder shows it was applied, and the trail now says ok."""
    zoho_fake.after_delivery = FaultPlan.scripted("500")
    async with live_zoho(zoho_fake, tmp_path, allow_writes="zoho.send_message") as rt:
        zoho = rt.registry.get("zoho")
        with pytest.raises(ConnectorError) as info:
            await zoho.call("send_message", {**MAIL, "idempotency_key": "reply-6690-001"})
        unknown = await embedded_trail(rt.store).call("reply-6690-001")
        again = (await zoho.call("send_message", {**MAIL, "idempotency_key": "reply-6690-001"})).data
        third = (await zoho.call("send_message", {**MAIL, "idempotency_key": "reply-6690-001"})).data
        audit = await embedded_trail(rt.store).call("reply-6690-001", with_attempts=True)
    assert info.value.kind is ErrorKind.UNAVAILABLE and "may have sent the message" in info.value.message
    assert unknown is not None and unknown.outcome == "unknown"
    sent = next(m for m in zoho_fake.messages if m.subject == MAIL["subject"] and m.folder_id == folder_id("Sent"))
    assert again.replayed and again.message_id == sent.message_id and third.message_id == sent.message_id
    assert len(zoho_fake.deliveries) == 1 and zoho_fake.stats[SEND] == 1
    assert audit is not None and audit.outcome == "ok" and audit.replays == 2
    assert audit.error_message is not None and audit.error_message.startswith("Reconciled")
    assert [a.outcome for a in audit.attempts] == ["unknown"]  # what was known when it was sent


async def test_an_unknown_outcome_not_in_sent_stays_unknown_and_is_not_resent(
    zoho_fake: ZohoFake, tmp_path: Path
) -> None:
    """Absence proves nothing (the Sent folder may lag, or the mail may have been moved): the
    outcome stays unknown and nothing is sent. A message with the same subject sent long before the
    call is not taken for it."""
    zoho_fake.after_delivery = FaultPlan.scripted("500")
    async with live_zoho(zoho_fake, tmp_path, allow_writes="zoho.send_message") as rt:
        zoho = rt.registry.get("zoho")
        with pytest.raises(ConnectorError):
            await zoho.call("send_message", {**MAIL, "idempotency_key": "reply-6690-002"})
        at = next(i for i, m in enumerate(zoho_fake.messages) if m.subject == MAIL["subject"])
        sent = zoho_fake.messages[at]  # the only match in Sent becomes an hour older than the call
        zoho_fake.messages[at] = dataclasses.replace(sent, received_ms=sent.received_ms - 3_600_000)
        with pytest.raises(ConnectorError) as replay:
            await zoho.call("send_message", {**MAIL, "idempotency_key": "reply-6690-002"})
        audit = await embedded_trail(rt.store).call("reply-6690-002")
    assert "Nothing was sent this time" in replay.value.message and "unknown outcome" in replay.value.message
    assert len(zoho_fake.deliveries) == 1 and zoho_fake.stats[SEND] == 1
    assert audit is not None and audit.outcome == "unknown"


async def test_under_timeouts_and_5xx_nothing_is_sent_twice_and_every_attempt_is_audited(
    zoho_fake: ZohoFake, tmp_path: Path
) -> None:
    """20 mails, each tried up to 3 times by a caller who reuses its key, while the upstream fails
    before acting (FaultPlan) and after acting (reply lost)."""
    zoho_fake.rate_limit_per_min = None
    async with live_zoho(
        zoho_fake, tmp_path, allow_writes="zoho.send_message", zoho={"timeout": 3.0, "breaker_min_calls": 1000}
    ) as rt:
        zoho = rt.registry.get("zoho")
        await zoho.call("list_accounts", {})  # token and account first, so faults land on sends
        zoho_fake.faults = FaultPlan(
            rates={Fault.SERVER_ERROR: 0.15, Fault.UNAVAILABLE: 0.1, Fault.STALL: 0.1, Fault.RATE_LIMITED: 0.1},
            retry_after_s=1.0,
            seed=3,
        )
        zoho_fake.after_delivery = FaultPlan(rates={Fault.SERVER_ERROR: 0.15, Fault.STALL: 0.15}, seed=4)
        outcomes: Counter[str] = Counter()
        for i in range(20):
            params = {**MAIL, "subject": f"Mail {i}", "idempotency_key": f"chaos-mail-{i:04d}"}
            for _ in range(3):
                try:
                    result = (await zoho.call("send_message", params)).data
                except ConnectorError as err:
                    outcomes[err.kind.value] += 1
                    continue
                outcomes["replayed" if result.replayed else "sent"] += 1
        log = embedded_trail(rt.store)
        calls = {c.idempotency_key: c for c in await log.recent(limit=100)}
        counted = await log.count_attempts(operation="send_message")

    # Every kind struck: before the upstream acted, and after it did.
    assert {"429", "500", "503", "stall"} <= set(zoho_fake.faults.injected)
    assert {"500", "stall"} <= set(zoho_fake.after_delivery.injected)
    delivered = Counter(d["subject"] for d in zoho_fake.deliveries)
    assert delivered and max(delivered.values()) == 1  # never twice
    assert outcomes["sent"] > 0 and (outcomes["unavailable"] + outcomes["timeout"]) > 0  # the chaos happened
    # Every request that reached the upstream is an attempt row, settled.
    attempts = [a for c in calls.values() for a in c.attempts]
    assert len(attempts) == zoho_fake.stats[SEND] == counted
    assert all(a.finished_at is not None for a in attempts)
    for i in range(20):
        call = calls[f"chaos-mail-{i:04d}"]
        was_delivered = delivered[f"Mail {i}"] == 1
        if call.outcome == "ok":
            assert was_delivered
        if call.outcome == "failed":
            assert not was_delivered
        if was_delivered:
            assert call.outcome in ("ok", "unknown")
