"""The writes framework over the generic fake: allow-list, idempotency keys, the audit log before and
after every attempt, replays, unknown outcomes, and the `storelink audit` command."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel, ConfigDict
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from storelink.audit import embedded_trail
from storelink.cli.audit import audit
from storelink.connectors.base import ConnectorContext, operation
from storelink.connectors.writes import (
    ALLOW_WRITES_ENV,
    AuditedTransport,
    IdempotencyKey,
    WriteGuard,
    WriteReceipt,
    calling_as,
    is_write_allowed,
    params_digest,
    scoped_key,
)
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import FaultPlan
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.resilience.classify import HttpClassifier
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.support.generic_connector import GenericConnector, GenericSettings

pytestmark = pytest.mark.looptime


class PostParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    idempotency_key: IdempotencyKey = None


class Posted(WriteReceipt):
    id: int


class WritingConnector(GenericConnector):
    """The generic connector with one write done the storelink way."""

    def __init__(self, ctx: ConnectorContext) -> None:
        classifier = HttpClassifier(title="Generic", connector="generic", credential_hint="GENERIC_TOKEN")
        super().__init__(dataclasses.replace(ctx, inner=AuditedTransport(ctx.inner, classifier=classifier)))
        self.writes = WriteGuard(
            connector="generic",
            title="Generic",
            allow_writes=self.config.allow_writes,
            mode=self.mode,
            store=ctx.store,
            audit=ctx.audit,
            deadline_s=self.knobs.deadline,
        )

    @operation(write=True)
    async def post(self, params: PostParams) -> Posted:
        """Post a message (a write)."""

        async def send(key: str) -> Posted:
            response = await self.http.request(
                "POST", "/v1/messages", operation="post", json={"text": params.text}, write=True
            )
            return Posted(id=response.json()["id"])

        return await self.writes.run(
            "post", params, summary=f"{len(params.text)} chars", effect="posted it", result_type=Posted, send=send
        )


class AuditSpy:
    """An ASGI wrapper that looks at the audit log at the moment a write reaches the upstream."""

    def __init__(self, app: Any, store: EmbeddedStore) -> None:
        self.app = app
        self.store = store
        self.seen: list[list[tuple[str, float | None]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            rows = self.store.db.execute("SELECT outcome, finished_at FROM write_attempts ORDER BY id").fetchall()
            self.seen.append([(r[0], r[1]) for r in rows])
        await self.app(scope, receive, send)


@asynccontextmanager
async def writing_runtime(
    tmp_path: Path, fake: GenericFake, *, allow: str = "generic.post", store: EmbeddedStore | None = None, **knobs: Any
) -> AsyncIterator[tuple[Runtime, EmbeddedStore, AuditSpy]]:
    store = store or EmbeddedStore(None)
    base = GenericSettings.model_fields["generic"].default
    settings = GenericSettings(
        _env_file=None, data_dir=tmp_path / "data", allow_writes=allow, generic=base.model_copy(update=knobs)
    )
    spy = AuditSpy(fake.app, store)
    async with open_runtime(
        settings,
        connectors=[WritingConnector],
        transports={"generic": InProcessTransport(spy)},
        metrics=Metrics(),
        store=store,
        random_source=lambda: 0.5,
    ) as rt:
        yield rt, store, spy


# -- the allow-list ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ("", False),
        ("bing.submit_urls", False),
        ("zoho.send_message", True),
        (" Zoho.Send_Message , bing.submit_urls ", True),
        ("zoho.*", True),
        ("*", True),
        ("zoho.send", False),
        ("zoho", False),
    ],
)
def test_allow_list(spec: str, allowed: bool) -> None:
    assert is_write_allowed(spec, "zoho", "send_message") is allowed


async def test_refused_when_not_allowed_names_the_variable(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake, allow="") as (rt, store, _):
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("post", {"text": "hi"})
        err = info.value
        assert err.kind is ErrorKind.DISABLED
        assert ALLOW_WRITES_ENV in err.message and "generic.post" in err.message
        assert err.retryable is False
        assert fake.deliveries == []
        assert fake.stats["POST /v1/messages"] == 0
        # The refusal is on record, with no attempt.
        [call] = await embedded_trail(store).recent()
        assert (call.outcome, call.error_kind, call.attempts) == ("failed", "disabled", [])


async def test_write_is_audited_before_and_after_the_request(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake) as (rt, store, spy):
        envelope = await rt.registry.get("generic").call("post", {"text": "hello"})
        assert envelope.data.id == 1 and envelope.data.replayed is False
        key = envelope.data.idempotency_key
        assert key.startswith("sl-")
        # When the request reached the upstream, its attempt was already written, as unknown.
        assert spy.seen == [[("unknown", None)]]
        call = await embedded_trail(store).call(key, with_attempts=True)
        assert call is not None
        assert call.outcome == "ok" and call.finished
        assert call.result == {"idempotency_key": key, "replayed": False, "id": 1}
        assert call.params_digest == params_digest(PostParams(text="hello"))
        [attempt] = call.attempts
        assert (attempt.outcome, attempt.status, attempt.finished_at is not None) == ("ok", 201, True)
        assert len(fake.deliveries) == 1


async def test_replay_with_the_same_key_writes_nothing(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake) as (rt, store, _):
        connector = rt.registry.get("generic")
        first = await connector.call("post", {"text": "once", "idempotency_key": "order-1042-reply"})
        again = await connector.call("post", {"text": "once", "idempotency_key": "order-1042-reply"})
        assert again.data.replayed is True and first.data.replayed is False
        assert again.data.id == first.data.id
        assert len(fake.deliveries) == 1
        assert fake.stats["POST /v1/messages"] == 1
        call = await embedded_trail(store).call("order-1042-reply", with_attempts=True)
        assert call is not None
        assert (call.replays, call.uses, len(call.attempts)) == (1, 2, 1)


async def test_same_key_with_other_parameters_is_refused(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake) as (rt, _, _):
        connector = rt.registry.get("generic")
        await connector.call("post", {"text": "one", "idempotency_key": "key-00000001"})
        with pytest.raises(ConnectorError) as info:
            await connector.call("post", {"text": "two", "idempotency_key": "key-00000001"})
        assert info.value.kind is ErrorKind.INVALID_REQUEST
        assert "different call" in info.value.message
        assert len(fake.deliveries) == 1


@pytest.mark.parametrize("fault", ["500", "503", "stall", "reset"])
async def test_unknown_outcome_is_not_retried_and_says_so(tmp_path: Path, fault: str) -> None:
    fake = GenericFake(faults=FaultPlan.scripted(fault))
    async with writing_runtime(tmp_path, fake, timeout=2.0) as (rt, store, _):
        connector = rt.registry.get("generic")
        with pytest.raises(ConnectorError) as info:
            await connector.call("post", {"text": "maybe", "idempotency_key": "maybe-sent-01"})
        err = info.value
        assert err.kind in (ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT)
        assert "outcome is unknown" in err.message and "idempotency_key=maybe-sent-01" in err.message
        assert err.retryable is False
        assert fake.stats["POST /v1/messages"] == 1  # never retried
        call = await embedded_trail(store).call("maybe-sent-01", with_attempts=True)
        assert call is not None and call.outcome == "unknown"
        assert [a.outcome for a in call.attempts] == ["unknown"]

        # Calling again with the key sends nothing and says why.
        with pytest.raises(ConnectorError) as again:
            await connector.call("post", {"text": "maybe", "idempotency_key": "maybe-sent-01"})
        assert "unknown outcome" in again.value.message and "Nothing was sent" in again.value.message
        assert fake.stats["POST /v1/messages"] == 1


async def test_certain_failure_may_run_again_under_the_same_key(tmp_path: Path) -> None:
    # 401 with no fresher token: the upstream refused, so nothing was applied.
    fake = GenericFake(faults=FaultPlan.scripted("401"))
    async with writing_runtime(tmp_path, fake) as (rt, store, _):
        connector = rt.registry.get("generic")
        with pytest.raises(ConnectorError) as info:
            await connector.call("post", {"text": "x", "idempotency_key": "retry-me-0001"})
        assert info.value.kind is ErrorKind.UNAUTHORIZED
        assert await embedded_trail(store).call("retry-me-0001") is not None
        envelope = await connector.call("post", {"text": "x", "idempotency_key": "retry-me-0001"})
        assert envelope.data.replayed is False
        assert len(fake.deliveries) == 1
        call = await embedded_trail(store).call("retry-me-0001", with_attempts=True)
        assert call is not None
        assert call.outcome == "ok" and call.uses == 2
        assert [a.outcome for a in call.attempts] == ["failed", "ok"]


async def test_throttled_write_is_retried_and_each_attempt_is_audited(tmp_path: Path) -> None:
    fake = GenericFake(faults=FaultPlan.scripted("429", retry_after_s=1.0))
    async with writing_runtime(tmp_path, fake) as (rt, store, spy):
        envelope = await rt.registry.get("generic").call("post", {"text": "x"})
        assert envelope.meta.attempts == 2
        assert len(fake.deliveries) == 1
        call = await embedded_trail(store).call(envelope.data.idempotency_key, with_attempts=True)
        assert call is not None
        assert [(a.outcome, a.status) for a in call.attempts] == [("failed", 429), ("ok", 201)]
        # Both attempts were on record before each was sent.
        assert spy.seen[1][-1] == ("unknown", None)


async def test_a_write_outside_the_guard_never_reaches_the_wire(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake) as (rt, _, _):
        # GenericConnector.send_message marks its request write=True but skips the guard.
        with pytest.raises(RuntimeError, match=r"outside WriteGuard\.run"):
            await rt.registry.get("generic").call("send_message", {"text": "sneaky"})
        assert fake.deliveries == []


async def test_a_key_in_flight_is_not_sent_twice(tmp_path: Path) -> None:
    fake = GenericFake(faults=FaultPlan.scripted("stall"))
    async with writing_runtime(tmp_path, fake, timeout=5.0) as (rt, _, _):
        connector = rt.registry.get("generic")
        first = asyncio.create_task(connector.call("post", {"text": "x", "idempotency_key": "in-flight-01"}))
        await asyncio.sleep(1.0)
        with pytest.raises(ConnectorError) as info:
            await connector.call("post", {"text": "x", "idempotency_key": "in-flight-01"})
        assert "still in progress" in info.value.message
        with pytest.raises(ConnectorError):
            await first
        assert fake.stats["POST /v1/messages"] == 1


async def test_a_cancelled_write_in_flight_is_recorded_as_unknown(tmp_path: Path) -> None:
    fake = GenericFake(faults=FaultPlan.scripted("stall"))
    async with writing_runtime(tmp_path, fake, timeout=5.0) as (rt, store, _):
        task = asyncio.create_task(
            rt.registry.get("generic").call("post", {"text": "x", "idempotency_key": "cancel-me-01"})
        )
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        call = await embedded_trail(store).call("cancel-me-01", with_attempts=True)
    assert call is not None and call.outcome == "unknown" and call.finished
    [attempt] = call.attempts
    assert attempt.outcome == "unknown" and attempt.detail and "interrupted" in attempt.detail


async def test_a_call_left_in_flight_by_a_dead_process_counts_as_unknown(tmp_path: Path) -> None:
    store = EmbeddedStore(None)
    log = embedded_trail(store, wall=lambda: 1_000.0)
    await log.claim(
        key="orphan-key-01",
        connector="generic",
        operation="post",
        mode="live",
        params_digest=params_digest(PostParams(text="x")),
        summary="1 chars",
    )
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake, store=store) as (rt, _, _):
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("post", {"text": "x", "idempotency_key": "orphan-key-01"})
        assert "unknown outcome" in info.value.message
        assert fake.deliveries == []
        call = await embedded_trail(store).call("orphan-key-01")
        assert call is not None and call.outcome == "unknown" and call.finished


async def test_writes_need_the_store(tmp_path: Path) -> None:
    fake = GenericFake()
    async with writing_runtime(tmp_path, fake) as (rt, _, _):
        connector = rt.registry.get("generic")
        assert isinstance(connector, WritingConnector)
        connector.writes.audit = None
        with pytest.raises(ConnectorError) as info:
            await connector.call("post", {"text": "x"})
        assert info.value.kind is ErrorKind.NOT_CONFIGURED
        assert fake.deliveries == []


async def test_a_key_belongs_to_its_caller(tmp_path: Path) -> None:
    fake = GenericFake()
    key = {"idempotency_key": "order-1042-reply"}
    async with writing_runtime(tmp_path, fake) as (rt, store, _):
        connector = rt.registry.get("generic")
        with calling_as("mallory"):
            await connector.call("post", {"text": "spam", **key})  # claims the key first
        with calling_as("alice"):
            mine = await connector.call("post", {"text": "hello", **key})  # not "a different call"
            again = await connector.call("post", {"text": "hello", **key})
        with calling_as("mallory"):
            with pytest.raises(ConnectorError, match="different call"):  # nor can she read Alice's outcome
                await connector.call("post", {"text": "hello", **key})
        assert (mine.data.replayed, again.data.replayed) == (False, True)
        assert mine.data.idempotency_key == key["idempotency_key"]  # the caller's key, as given
        assert [d["text"] for d in fake.deliveries] == ["spam", "hello"]
        await connector.call("post", {"text": "local", "idempotency_key": "local-key-01"})
        assert await embedded_trail(store).call("local-key-01") is not None  # the local user's keys are stored as given
        assert await embedded_trail(store).call(scoped_key("alice", key["idempotency_key"])) is not None


def test_idempotency_key_is_validated() -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        PostParams(text="x", idempotency_key="short")
    with pytest.raises(ValueError, match="idempotency_key"):
        PostParams(text="x", idempotency_key="has spaces in it")


# -- `storelink audit` ------------------------------------------------------------------------------
def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("audit")(audit)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer from folding `audit` into the root
        pass

    return app


def test_audit_command_prints_calls_and_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    store = EmbeddedStore.in_data_dir(data_dir)
    log = embedded_trail(store, wall=lambda: 1_764_000_000.0)

    async def write_one() -> None:  # the CLI runs its own event loop: this test has none running
        await log.claim(
            key="sl-abc", connector="zoho", operation="send_message", mode="mock", params_digest="d", summary="to=a"
        )
        attempt = await log.begin_attempt(key="sl-abc", connector="zoho", operation="send_message")
        await log.end_attempt(
            attempt, "unknown", status=502, error_kind="unavailable", detail="Zoho Mail failed with 502"
        )
        await log.finish("sl-abc", "unknown", error_kind="unavailable", error_message="may have sent it")

    asyncio.run(write_one())
    store.close()
    monkeypatch.setenv("STORELINK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COLUMNS", "240")
    runner = CliRunner()

    result = runner.invoke(_cli(), ["audit", "--json"])
    assert result.exit_code == 0, result.output
    [call] = json.loads(result.stdout)
    assert call["idempotency_key"] == "sl-abc" and call["outcome"] == "unknown"
    assert [(a["outcome"], a["status"]) for a in call["attempts"]] == [("unknown", 502)]

    table = runner.invoke(_cli(), ["audit"])
    assert table.exit_code == 0
    assert "zoho.send_message" in table.stdout and "unknown" in table.stdout

    none = runner.invoke(_cli(), ["audit", "--json", "--connector", "bing"])
    assert json.loads(none.stdout) == []


def test_audit_command_without_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "nothing-here"))
    result = CliRunner().invoke(_cli(), ["audit", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert not (tmp_path / "nothing-here").exists()  # reading the log creates nothing
