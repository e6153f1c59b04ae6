"""Who may see the pages: open on loopback only; password login with a signed session; a trusted
proxy header; CSRF on every form that changes state; probes and scrapers stay open."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from storelink.errors import ConfigurationError
from storelink.web.auth import SESSION_COOKIE, AccessPolicy, Session, SessionSigner
from storelink.web.dashboard import dashboard_routes
from tests.web.helpers import LOCAL, ClientAddress, World, build_app, ops_settings, runtime_factory

REMOTE: ClientAddress = {"base_url": "http://shop-ops.example", "client": ("203.0.113.9", 40000)}
HTML = {"accept": "text/html"}
PASSWORD = "correct horse battery staple"


def app_for(tmp_path: Path, **overrides: Any) -> Starlette:
    return build_app(ops_settings(tmp_path, **overrides), runtime_factory(World(), names=("alpha",)))


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def password_client(tmp_path: Path) -> Iterator[TestClient]:
    app = app_for(tmp_path, host="0.0.0.0", dashboard_password=PASSWORD)  # noqa: S104
    with TestClient(app, **REMOTE) as client:
        yield client


def sign_in(client: TestClient, password: str = PASSWORD, next_: str = "/") -> Any:
    token = csrf(client.get("/app/login", headers=HTML).text)
    return client.post(
        "/app/login", data={"csrf_token": token, "password": password, "next": next_}, follow_redirects=False
    )


def test_loopback_is_open_to_local_requests_only(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    with TestClient(app, **LOCAL) as local:
        assert local.get("/").status_code == 200
        assert "local access" in local.get("/").text
        # A page served through a local proxy, or to a DNS-rebinding Host, is not local.
        assert local.get("/", headers={"x-forwarded-for": "198.51.100.7"}).status_code == 403
        rebinding = local.get("/", headers={"host": "attacker.example:8765"})
        assert rebinding.status_code == 403
        assert "STORELINK_ALLOWED_HOSTS" in rebinding.text
    with TestClient(app, **REMOTE) as remote:
        refused = remote.get("/app/settings", headers=HTML)
        assert refused.status_code == 403
        assert "STORELINK_DASHBOARD_PASSWORD" in refused.text
        assert remote.get("/app/metrics.json").status_code == 403
        # Probes and scrapers are not pages.
        assert remote.get("/healthz").status_code == 200
        assert remote.get("/metrics").status_code == 200


def test_allowed_hosts_extend_the_loopback_names(tmp_path: Path) -> None:
    app = app_for(tmp_path, allowed_hosts="ops.internal")
    with TestClient(app, **LOCAL) as local:
        assert local.get("/", headers={"host": "ops.internal:8765"}).status_code == 200


def test_bound_beyond_loopback_without_login_is_locked(tmp_path: Path) -> None:
    app = app_for(tmp_path, host="0.0.0.0")  # noqa: S104
    with TestClient(app, **LOCAL) as local:
        refused = local.get("/", headers=HTML)
        assert refused.status_code == 403
        assert "bound beyond loopback and no login is configured" in refused.text


def test_the_bound_host_passed_to_the_middleware_wins(tmp_path: Path) -> None:
    policy = AccessPolicy(ops_settings(tmp_path), host="0.0.0.0")  # noqa: S104
    assert policy.mode == "locked"
    assert AccessPolicy(ops_settings(tmp_path), host="::1").mode == "open"


def test_password_login_flow(password_client: TestClient) -> None:
    c = password_client
    first = c.get("/app/slo?x=1", headers=HTML, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/app/login?next=%2Fapp%2Fslo%3Fx%3D1"
    assert c.get("/app/metrics.json").status_code == 401
    assert c.get("/app/events").status_code == 401

    wrong = sign_in(c, "guess")
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    ok = sign_in(c, next_="/app/slo")
    assert ok.status_code == 303 and ok.headers["location"] == "/app/slo"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    for path in ("/", "/app/slo", "/app/settings", "/app/metrics", "/app/connectors/alpha"):
        page = c.get(path, headers=HTML)
        assert page.status_code == 200, path
    assert "signed in as admin" in c.get("/").text
    assert c.get("/app/metrics.json").status_code == 200

    token = csrf(c.get("/").text)
    assert c.post("/app/logout", data={}, follow_redirects=False).status_code == 403
    out = c.post("/app/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert c.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_login_refuses_open_redirects(password_client: TestClient) -> None:
    assert sign_in(password_client, next_="//evil.example/x").headers["location"] == "/"
    assert sign_in(password_client, next_="https://evil.example").headers["location"] == "/"


def test_failed_logins_are_limited(password_client: TestClient) -> None:
    for _ in range(5):
        assert sign_in(password_client, "nope").status_code == 401
    blocked = sign_in(password_client)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text


def test_login_needs_the_csrf_token(password_client: TestClient) -> None:
    password_client.get("/app/login", headers=HTML)
    response = password_client.post("/app/login", data={"password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    assert "security token" in response.text


def test_forged_or_expired_sessions_are_refused(tmp_path: Path) -> None:
    signer = SessionSigner(b"k" * 32)
    session = Session(sid="abc", user="admin", issued=1000.0)
    token = signer.dumps(session)
    assert signer.loads(token, now=1001.0) == Session(sid="abc", user="admin", issued=1000.0)
    assert signer.loads(token, now=1000.0 + 13 * 3600) is None
    payload, _, mac = token.partition(".")
    assert signer.loads(payload + "." + mac[:-2] + "xx", now=1001.0) is None
    assert SessionSigner(b"other" * 8).loads(token, now=1001.0) is None
    assert signer.loads("garbage", now=1001.0) is None

    app = app_for(tmp_path, host="0.0.0.0", dashboard_password=PASSWORD)  # noqa: S104
    with TestClient(app, **REMOTE) as c:
        c.cookies.set(SESSION_COOKIE, token)  # signed with another key
        assert c.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_csrf_guards_the_probe_form(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path), **LOCAL) as c:
        token = csrf(c.get("/app/connectors/alpha").text)
        assert c.post("/app/connectors/alpha/probe", data={}).status_code == 403
        assert c.post("/app/connectors/alpha/probe", data={"csrf_token": "forged"}).status_code == 403
        cross_site = c.post(
            "/app/connectors/alpha/probe", data={"csrf_token": token}, headers={"origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        ok = c.post("/app/connectors/alpha/probe", data={"csrf_token": token}, follow_redirects=False)
        assert ok.status_code == 303
    with TestClient(app_for(tmp_path), **LOCAL) as other:
        # A token from another visitor's session is worthless here.
        other.get("/")
        assert other.post("/app/connectors/alpha/probe", data={"csrf_token": token}).status_code == 403


def test_trusted_proxy_header(tmp_path: Path) -> None:
    app = app_for(tmp_path, host="0.0.0.0", trusted_proxy_header="X-Forwarded-User")  # noqa: S104
    with TestClient(app, **REMOTE) as c:
        assert c.get("/", headers=HTML).status_code == 401
        page = c.get("/", headers={**HTML, "x-forwarded-user": "ana@example.com"})
        assert page.status_code == 200
        assert "signed in as ana@example.com" in page.text


def test_pages_refuse_to_serve_without_the_guard() -> None:
    # Mounted without dashboard_middleware (a wiring mistake), the pages fail closed.
    app = Starlette(routes=dashboard_routes())
    with TestClient(app, **LOCAL) as c:
        response = c.get("/")
        assert response.status_code == 503
        assert "dashboard_middleware" in response.text


# -- issue 14: fail-closed host checks, forwarded addresses, logout --------------------------------
def test_only_literal_loopback_binds_are_open(tmp_path: Path) -> None:
    for host in ("", "0.0.0.0", "::", "localhost", "not an address"):  # noqa: S104
        assert AccessPolicy(ops_settings(tmp_path, host=host)).mode == "locked", host
    assert AccessPolicy(ops_settings(tmp_path, host="127.0.0.1")).mode == "open"


def test_host_must_be_a_loopback_name_with_at_most_a_port(tmp_path: Path) -> None:
    with TestClient(app_for(tmp_path, allowed_hosts="ops.internal"), **LOCAL) as local:
        for good in ("127.0.0.1:8765", "127.0.0.1", "localhost:8765", "[::1]:8765", "ops.internal:8765"):
            assert local.get("/", headers={"host": good}).status_code == 200, good
        for bad in (
            "127.0.0.1:8765@evil.example",
            "127.0.0.1:8765.evil.example",
            "localhost:evil.example",
            "[::1].evil.example",
            "[::1]:8765@evil.example",
            "ops.internal.evil.example:8765",
        ):
            assert local.get("/", headers={"host": bad}).status_code == 403, bad


def test_logout_revokes_the_session(password_client: TestClient) -> None:
    c = password_client
    assert sign_in(c).status_code == 303
    kept = c.cookies.get(SESSION_COOKIE)  # a copy of the cookie, kept from before the logout
    assert kept and c.get("/", headers=HTML).status_code == 200
    out = c.post("/app/logout", data={"csrf_token": csrf(c.get("/").text)}, follow_redirects=False)
    assert out.status_code == 303
    replay = TestClient(c.app, **REMOTE)
    replay.cookies.set(SESSION_COOKIE, kept)
    assert replay.get("/", headers=HTML, follow_redirects=False).status_code == 303
    assert replay.get("/app/metrics.json").status_code == 401
    # Signing in again works, with a new session.
    assert sign_in(c).status_code == 303
    assert c.get("/", headers=HTML).status_code == 200


def failed_logins(app: Starlette, peer: str, forwarded_for: list[str], **headers: str) -> list[int]:
    """One wrong password per ``forwarded_for`` entry, each from ``peer`` with that X-Forwarded-For."""
    statuses = []
    with TestClient(app, base_url="http://shop-ops.example", client=(peer, 40000)) as c:
        for value in forwarded_for:
            extra = {"x-forwarded-for": value, **headers}
            token = csrf(c.get("/app/login", headers={**HTML, **extra}).text)
            response = c.post(
                "/app/login", data={"csrf_token": token, "password": "nope"}, headers=extra, follow_redirects=False
            )
            statuses.append(response.status_code)
    return statuses


def test_forwarded_for_counts_only_through_named_proxies(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        host="0.0.0.0",  # noqa: S104
        dashboard_password=PASSWORD,
        trusted_proxies="10.0.0.0/8, 192.0.2.1",
    )
    # Behind a named proxy, the limit is per client: the proxy's rightmost untrusted hop counts.
    assert failed_logins(app, "10.0.0.5", ["198.51.100.7"] * 6) == [401] * 5 + [429]
    assert failed_logins(app, "10.0.0.5", ["198.51.100.8"]) == [401]
    # A client cannot escape by prepending addresses; hops through named proxies are skipped.
    assert failed_logins(app, "10.0.0.5", ["203.0.113.50, 198.51.100.7, 192.0.2.1"]) == [429]
    # The same headers from a peer nobody named are not believed.
    spray = [f"198.51.100.{i}" for i in range(100, 130)]
    assert failed_logins(app, "203.0.113.9", spray)[5:] == [429] * 25


def test_forwarded_requests_from_unnamed_peers_share_one_limit(tmp_path: Path) -> None:
    # uvicorn, by default, replaces a loopback peer's address with its X-Forwarded-For before the app
    # sees it: 30 guesses from 127.0.0.1 would arrive as 30 "clients". With no proxy named, every
    # forwarded request counts as one.
    app = app_for(tmp_path, host="0.0.0.0", dashboard_password=PASSWORD)  # noqa: S104
    statuses = []
    for i in range(30):
        address = f"198.51.100.{i}"
        statuses += failed_logins(app, address, [address])
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 25


def test_a_named_proxy_says_the_scheme(tmp_path: Path) -> None:
    app = app_for(tmp_path, host="0.0.0.0", dashboard_password=PASSWORD, trusted_proxies="10.0.0.5")  # noqa: S104
    https = {**HTML, "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.7"}
    with TestClient(app, base_url="http://shop-ops.example", client=("10.0.0.5", 40000)) as c:
        assert "Secure" in c.get("/app/login", headers=https).headers["set-cookie"]
    with TestClient(app, **REMOTE) as c:
        assert "Secure" not in c.get("/app/login", headers=https).headers["set-cookie"]


def test_proxy_user_header_is_believed_only_from_named_proxies(tmp_path: Path) -> None:
    app = app_for(
        tmp_path,
        host="0.0.0.0",  # noqa: S104
        trusted_proxy_header="X-Forwarded-User",
        trusted_proxies="10.0.0.5",
    )
    user = {**HTML, "x-forwarded-user": "ana@example.com"}
    with TestClient(app, base_url="http://shop-ops.example", client=("10.0.0.5", 40000)) as c:
        assert c.get("/", headers=user).status_code == 200
    with TestClient(app, **REMOTE) as c:
        assert c.get("/", headers=user).status_code == 401


def test_bad_trusted_proxies_are_reported_by_their_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="STORELINK_TRUSTED_PROXIES"):
        AccessPolicy(ops_settings(tmp_path, trusted_proxies="10.0.0.0/8, proxy.internal"))
