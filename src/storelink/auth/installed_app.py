"""The OAuth installed-app flow with a loopback redirect: how a person mints a refresh token.

``storelink auth google`` runs it: listen on ``http://127.0.0.1:<port>``, send the browser to
Google's consent page (``access_type=offline`` and ``prompt=consent``, so Google returns a refresh
token every time; PKCE with S256 and a random ``state`` so a stray or forged redirect is refused),
take the ``code`` from the redirect and exchange it at the token endpoint. Google requires a
"Desktop app" OAuth client for loopback redirects; any free port is accepted.

The loopback server is a few lines of asyncio: it answers one GET with the right ``state`` and
ignores anything else (favicon requests, other paths).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from pydantic import SecretStr

__all__ = ["AUTH_URL", "InstalledAppError", "InstalledAppResult", "run_installed_app_flow"]

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>storelink</title>"
    "<p style='font-family:sans-serif'>{text} You can close this tab.</p>"
)


class InstalledAppError(Exception):
    """The flow could not produce a refresh token; the message says why and what to do."""


@dataclass(frozen=True)
class InstalledAppResult:
    refresh_token: SecretStr
    scope: str
    redirect_uri: str


@dataclass(frozen=True)
class _Redirect:
    code: str | None
    error: str | None


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def run_installed_app_flow(
    *,
    client_id: str,
    client_secret: SecretStr,
    scopes: Sequence[str],
    token_url: str,
    open_browser: Callable[[str], Awaitable[None]],
    auth_url: str = AUTH_URL,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_s: float = 300.0,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> InstalledAppResult:
    """Run the whole flow; ``open_browser`` is given the consent URL (the CLI opens and prints it)."""
    state = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[_Redirect] = loop.create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 10.0)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 10.0)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = request_line.split(" ")
            target = parts[1] if len(parts) > 1 else "/"
            query = parse_qs(urlsplit(target).query)
            if query.get("state", [""])[0] != state or arrived.done():
                await _respond(writer, 404, "This is not the redirect storelink is waiting for.")
                return
            error = query.get("error", [None])[0]
            code = query.get("code", [None])[0]
            text = "storelink received the authorisation." if code else f"Google said: {error or 'no code'}."
            await _respond(writer, 200, text)
            arrived.set_result(_Redirect(code=code, error=error))
        except (TimeoutError, ConnectionError, IndexError):
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    try:
        bound = server.sockets[0].getsockname()[1]
        redirect_uri = f"http://{host}:{bound}"
        consent = f"{auth_url}?" + urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "access_type": "offline",
                "prompt": "consent",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        await open_browser(consent)
        try:
            redirect = await asyncio.wait_for(arrived, timeout_s)
        except TimeoutError:
            raise InstalledAppError(
                f"No redirect arrived within {timeout_s:.0f} s. Open the printed URL in a browser on this "
                "machine (the redirect goes to 127.0.0.1), or use --port with an SSH tunnel."
            ) from None
    finally:
        server.close()
        await server.wait_closed()
    if redirect.code is None:
        raise InstalledAppError(
            f"Google did not authorise the request ({redirect.error or 'no code'}). Sign in with an account "
            "that can read the GA4 property and the Search Console site, and accept every scope."
        )
    return await _exchange_code(
        code=redirect.code,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        verifier=verifier,
        token_url=token_url,
        transport=transport,
    )


async def _respond(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = _PAGE.format(text=text).encode()
    reason = "OK" if status == 200 else "Not Found"
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    writer.close()


async def _exchange_code(
    *,
    code: str,
    client_id: str,
    client_secret: SecretStr,
    redirect_uri: str,
    verifier: str,
    token_url: str,
    transport: httpx2.AsyncBaseTransport | None,
) -> InstalledAppResult:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret.get_secret_value(),
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    async with httpx2.AsyncClient(transport=transport, timeout=30.0) as client:
        try:
            response = await client.post(token_url, data=form, headers={"Accept": "application/json"})
        except httpx2.HTTPError as exc:
            raise InstalledAppError(f"Could not reach the token endpoint ({type(exc).__name__}).") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200:
        error = body.get("error") or response.status_code
        raise InstalledAppError(
            f"Google refused to exchange the code ({error}: {str(body.get('error_description') or '')[:200]}). "
            "Check GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET (a 'Desktop app' client) and run the command again."
        )
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise InstalledAppError(
            "Google returned no refresh token. Remove storelink's access at "
            "https://myaccount.google.com/permissions and run the command again."
        )
    return InstalledAppResult(SecretStr(refresh), str(body.get("scope") or ""), redirect_uri)
