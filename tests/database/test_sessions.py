"""Dashboard sessions across replicas that share PostgreSQL: a logout on one replica is refused by
every replica (the cookie is signed with the shared secret, so without the shared revocation a copy
of it would still open the pages of the others); and with the database down the pages stay open."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from storelink.web.auth import SESSION_COOKIE
from tests.support.postgres_server import SHARED_POSTGRES_URL, postgres_answers
from tests.support.redis_server import free_port
from tests.web.helpers import World, build_app, ops_settings, runtime_factory
from tests.web.test_auth import HTML, PASSWORD, REMOTE, csrf, sign_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
]


def replica(tmp_path: Path, name: str, *, url: str, schema: str) -> Starlette:
    settings = ops_settings(
        tmp_path / name,
        host="0.0.0.0",  # noqa: S104
        dashboard_password=PASSWORD,
        session_secret="one-secret-for-every-replica",
        database_url=url,
        database_schema=schema,
    )
    return build_app(settings, runtime_factory(World(), names=("alpha",)))


def test_a_logout_on_one_replica_is_refused_by_the_others(tmp_path: Path, schema: str) -> None:
    a, b = (replica(tmp_path, n, url=SHARED_POSTGRES_URL, schema=schema) for n in ("a", "b"))
    with TestClient(a, **REMOTE) as on_a, TestClient(b, **REMOTE) as on_b:
        assert sign_in(on_a).status_code == 303
        kept = on_a.cookies.get(SESSION_COOKIE)
        assert kept
        on_b.cookies.set(SESSION_COOKIE, kept)
        assert on_b.get("/", headers=HTML).status_code == 200  # one secret: the login holds on b
        out = on_a.post("/app/logout", data={"csrf_token": csrf(on_a.get("/").text)}, follow_redirects=False)
        assert out.status_code == 303
        assert on_b.get("/", headers=HTML, follow_redirects=False).status_code == 303  # to the login page
        assert on_b.get("/app/metrics.json").status_code == 401


def test_with_the_database_down_the_pages_stay_open(tmp_path: Path) -> None:
    down = replica(tmp_path, "a", url=f"postgresql://storelink:pw@127.0.0.1:{free_port()}/x", schema="storelink")
    with TestClient(down, **REMOTE) as client:
        assert sign_in(client).status_code == 303
        assert client.get("/", headers=HTML).status_code == 200
        out = client.post("/app/logout", data={"csrf_token": csrf(client.get("/").text)}, follow_redirects=False)
        assert out.status_code == 303  # the logout holds on this replica


def test_the_overview_shows_postgres_state(tmp_path: Path, schema: str) -> None:
    up = replica(tmp_path, "a", url=SHARED_POSTGRES_URL, schema=schema)
    down = replica(tmp_path, "b", url=f"postgresql://storelink:pw-s3cret@127.0.0.1:{free_port()}/x", schema="storelink")
    with TestClient(up, **REMOTE) as on_up, TestClient(down, **REMOTE) as on_down:
        for client in (on_up, on_down):
            assert sign_in(client).status_code == 303
        shown = on_up.get("/", headers=HTML).text
        assert '<p data-shared="PostgreSQL"><span class="badge" data-state="ok">' in shown
        assert f"schema {schema} at version" in shown
        failing = on_down.get("/", headers=HTML).text
        assert '<p data-shared="PostgreSQL"><span class="badge" data-state="down">' in failing
        assert "writes are refused until it does" in failing and "pw-s3cret" not in failing
