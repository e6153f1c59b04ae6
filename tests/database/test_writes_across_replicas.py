"""Writes across replicas that share one audit trail in PostgreSQL (issue 17): the same logical write
sent to three replicas is delivered once; the rows a replica leaves when it is killed between sending
and recording are read as an unknown outcome, never sent again; while PostgreSQL is down writes are
refused before anything is sent, and they are accepted again, with every row kept, once it is back."""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from storelink.audit import AuditTrail
from storelink.connectors.base import Connector
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.connectors.test_writes import WritingConnector
from tests.support.generic_connector import GenericSettings
from tests.support.postgres_server import (
    SHARED_POSTGRES_URL,
    PostgresServer,
    postgres_answers,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
]


@asynccontextmanager
async def replicas(
    tmp_path: Path, fake: GenericFake, *, url: str, schema: str, n: int = 3
) -> AsyncIterator[list[Connector]]:
    """``n`` replicas of a deployment with a write connector, one fake upstream, one database."""
    base = GenericSettings.model_fields["generic"].default
    settings = GenericSettings(
        _env_file=None,
        data_dir=tmp_path / "data",
        allow_writes="generic.post",
        generic=base.model_copy(update={"timeout": 2.0, "deadline": 10.0}),
        database_url=url,
        database_schema=schema,
    )
    async with AsyncExitStack() as stack:
        runtimes = [
            await stack.enter_async_context(
                open_runtime(
                    settings,
                    connectors=[WritingConnector],
                    transports={"generic": InProcessTransport(fake.app)},
                    metrics=Metrics(),
                    store=EmbeddedStore(None),  # each replica's own: the trail must not be in it
                )
            )
            for _ in range(n)
        ]
        yield [rt.registry.get("generic") for rt in runtimes]


def trail_of(connector: Connector) -> AuditTrail:
    assert isinstance(connector, WritingConnector)
    audit = connector.writes.audit
    assert audit is not None and audit.backend == "postgresql"
    return audit


async def write_until_accepted(node: Connector, key: str, *, tries: int = 30) -> list[ConnectorError]:
    """Send one write until a replica accepts it (every 0.5 s); returns the refusals met."""
    refusals: list[ConnectorError] = []
    for _ in range(tries):
        try:
            await node.call("post", {"text": key, "idempotency_key": key})
        except ConnectorError as err:
            refusals.append(err)
            await asyncio.sleep(0.5)
        else:
            return refusals
    pytest.fail(f"not accepted within {tries * 0.5:g} s of PostgreSQL's return: {refusals[-1].message}")


async def test_one_write_sent_to_three_replicas_is_delivered_once(tmp_path: Path, schema: str) -> None:
    fake = GenericFake()
    async with replicas(tmp_path, fake, url=SHARED_POSTGRES_URL, schema=schema) as nodes:
        # Round robin: the client retries the same logical write on the next replica each time.
        answers = [await node.call("post", {"text": "hello", "idempotency_key": "round-robin-0001"}) for node in nodes]
        # And all at once, as a balancer fanning out a retried request would.
        together = await asyncio.gather(
            *(node.call("post", {"text": "again", "idempotency_key": "fan-out-0001"}) for node in nodes),
            return_exceptions=True,
        )
        call = await trail_of(nodes[2]).call("round-robin-0001", with_attempts=True)
    assert [a.data.replayed for a in answers] == [False, True, True]
    assert len({a.data.id for a in answers}) == 1
    assert call is not None and (call.outcome, call.uses, call.replays, len(call.attempts)) == ("ok", 3, 2, 1)
    delivered = [r for r in together if not isinstance(r, BaseException)]
    refused = [r for r in together if isinstance(r, ConnectorError)]
    assert len(delivered) + len(refused) == 3 and all("still in progress" in e.message for e in refused)
    assert [m["text"] for m in fake.deliveries] == ["hello", "again"]


class SilentUpstream:
    """An upstream on loopback that reads each request and never answers (it is applied, or not:
    nobody can tell the replica that sent it)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.received = asyncio.Event()
        self._held: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
            0,
        )
        self.requests.append(head + await reader.readexactly(length))
        self._held.append(writer)  # the connection stays open, unanswered
        self.received.set()

    async def close(self) -> None:
        for writer in self._held:
            writer.close()
            await writer.wait_closed()


async def test_a_replica_killed_between_sending_and_recording_leaves_an_unknown_outcome(
    tmp_path: Path, schema: str
) -> None:
    upstream = SilentUpstream()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # Replica 1 is a process of its own; it sends the write, and is killed (SIGKILL) while it waits.
    replica = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.dying_replica", schema, str(port), "killed-0001", cwd=ROOT
    )
    exited = asyncio.ensure_future(replica.wait())
    received = asyncio.ensure_future(upstream.received.wait())
    await asyncio.wait([exited, received], timeout=60, return_when="FIRST_COMPLETED")
    received.cancel()
    assert not exited.done(), f"the replica exited ({replica.returncode}) before its write reached the upstream"
    assert upstream.received.is_set(), "the replica's write did not reach the upstream within 60 s"
    replica.kill()
    assert await exited == -signal.SIGKILL
    fake = GenericFake()
    async with replicas(tmp_path, fake, url=SHARED_POSTGRES_URL, schema=schema) as nodes:
        left = await trail_of(nodes[0]).call("killed-0001", with_attempts=True)
        # Long after (past the call's deadline and margin), the client retries on replica 2.
        later = nodes[1]
        assert isinstance(later, WritingConnector)
        later.writes.wall = lambda: 1e12
        with pytest.raises(ConnectorError) as info:
            await later.call("post", {"text": "killed-0001", "idempotency_key": "killed-0001"})
        call = await trail_of(nodes[2]).call("killed-0001", with_attempts=True)
    await upstream.close()
    server.close()
    await server.wait_closed()
    # What the killed replica left: its claim, and its attempt written before sending, never settled.
    assert left is not None and not left.finished
    assert [a.outcome for a in left.attempts] == ["unknown"]
    assert len(upstream.requests) == 1 and b"killed-0001" in upstream.requests[0]
    # The retry is told the outcome is unknown, sends nothing, and the trail now says so.
    assert "unknown outcome" in info.value.message and not info.value.retryable
    assert fake.deliveries == [] and len(upstream.requests) == 1
    assert call is not None and call.outcome == "unknown" and call.finished and call.replays == 1
    assert [a.outcome for a in call.attempts] == ["unknown"]


@pytest.mark.slow
async def test_postgres_restarted_mid_run_refuses_writes_then_accepts_them_and_loses_no_row(tmp_path: Path) -> None:
    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    server.start()
    keys = (f"restart-{n:04d}" for n in itertools.count())
    fake = GenericFake()
    try:
        async with replicas(tmp_path, fake, url=server.url, schema="storelink") as nodes:
            accepted = []
            for node in nodes:
                key = next(keys)
                await node.call("post", {"text": key, "idempotency_key": key})
                accepted.append(key)

            server.stop()
            for node in nodes:
                with pytest.raises(ConnectorError) as info:
                    await node.call("post", {"text": "while down", "idempotency_key": next(keys)})
                assert info.value.kind is ErrorKind.UNAVAILABLE and info.value.retryable
                assert "nothing was sent" in info.value.message
            assert len(fake.deliveries) == len(accepted)

            server.start()
            for node in nodes:  # each replica's pool reconnects by itself
                key = next(keys)
                refusals = await write_until_accepted(node, key)
                assert all(e.kind is ErrorKind.UNAVAILABLE and "nothing was sent" in e.message for e in refusals)
                accepted.append(key)
            calls = await trail_of(nodes[0]).recent(limit=50)
    finally:
        server.remove()
    assert sorted(c.idempotency_key for c in calls) == sorted(accepted)
    assert all(c.outcome == "ok" and len(c.attempts) == 1 for c in calls)
    assert [m["text"] for m in fake.deliveries] == accepted
