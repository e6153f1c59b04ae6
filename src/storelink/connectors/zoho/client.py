"""Zoho Mail connector: the store's mailbox, where customers and suppliers write.

Data-centre aware: ``ZOHO_DC`` picks the accounts host (OAuth) and the Mail host together
(:mod:`.dc`). Credentials are the OAuth refresh-token flow (:mod:`.auth`); in mock mode the same
flow runs against the fake with its demo client. The account is ``ZOHO_ACCOUNT_ID`` or the first
one Zoho lists.

Caching: accounts and folders for the knob's TTL; message lists and searches never (mail
arrives); a message's body for :data:`CONTENT_TTL_S` (it does not change).

Rate: Zoho allows about 30 requests a minute per user [3P]. Unless ``STORELINK_ZOHO_RATE_LIMIT`` /
``STORELINK_ZOHO_RATE_BURST`` are set, the local limiter paces to that (bursts of 10, then 20 a
minute: never more than 30 in any minute).

``send_message`` is a write (``zoho.send_message`` in ``STORELINK_ALLOW_WRITES``). Zoho documents
no idempotency key, so a send that times out or meets a 5xx is never retried: the caller hears
that the outcome is unknown and what to check; the audit log has every attempt.

[INF] ``get_message`` also reads ``…/messages/{id}/details`` (Zoho's "get email meta data"
endpoint, not in the reference facts) for subject and addresses; when that answers 404 the body is
returned without them. Search terms are combined with ``::`` (Zoho's AND, unverified).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from typing import Any

import httpx2
from pydantic import SecretStr

from storelink.connectors.base import Connector, ConnectorContext, NoParams, operation
from storelink.connectors.http import SharedTransport, UpstreamResponse, contract_error, envelope_field, object_list
from storelink.connectors.writes import AuditedTransport, WriteGuard
from storelink.connectors.zoho import models as m
from storelink.connectors.zoho.auth import MemoryTokenCache, StoreTokenCache, TokenCache, ZohoOAuth, call_deadline
from storelink.connectors.zoho.dc import DataCentre, data_centre
from storelink.connectors.zoho.errors import ZohoClassifier
from storelink.connectors.zoho.html_text import html_to_text, links_in
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import Classifier
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, TokenBucketLimiter
from storelink.resilience.pipeline import Authenticator
from storelink.resilience.policy import retry_policy
from storelink.settings import ZohoKnobs
from storelink.stores import ConnectorSettings, ZohoSettings, settings_as

__all__ = ["CONTENT_TTL_S", "ZOHO_RATE_BURST", "ZOHO_RATE_PER_S", "ZohoConnector", "accounts_url"]

CONTENT_TTL_S = 3600.0
# Zoho: about 30 requests a minute per user [3P]. A bucket admits at most burst + rate·60 in any
# minute, so 10 + 20 keeps every sliding minute within 30.
ZOHO_RATE_BURST = 10.0
ZOHO_RATE_PER_S = 20.0 / 60.0
# Reconciling a send whose outcome is unknown: how many of the newest Sent messages are read, and
# how far the mail server's clock may be behind ours.
SENT_SCAN = 50
CLOCK_SKEW_S = 300.0
_ADDRESS = re.compile(r"[^\s<>\",;]+@[^\s<>\",;]+")


def accounts_url(config: ZohoSettings, *, mode: str, base_url: str) -> str:
    """Where tokens come from: the override, else the fake itself (mock mode on loopback), else the DC's."""
    if config.accounts_url:
        return config.accounts_url.rstrip("/")
    if mode == "mock" and config.knobs.base_url:
        return base_url.rstrip("/")  # `storelink fakes serve zoho` answers both
    return data_centre(config.dc).accounts_url


class ZohoConnector(Connector):
    name = "zoho"
    title = "Zoho Mail"
    credential_hint = "ZOHO_REFRESH_TOKEN"
    probe = ("list_accounts", {})

    # -- the upstream --------------------------------------------------------------------------
    settings_type = ZohoSettings
    config: ZohoSettings
    knobs: ZohoKnobs

    @classmethod
    def missing_settings(cls, config: ConnectorSettings) -> list[str]:
        zoho = settings_as(config, ZohoSettings)
        wanted = {
            "ZOHO_CLIENT_ID": zoho.client_id,
            "ZOHO_CLIENT_SECRET": zoho.client_secret,
            "ZOHO_REFRESH_TOKEN": zoho.refresh_token,
        }
        return [name for name, value in wanted.items() if not value]

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        return data_centre(settings_as(config, ZohoSettings).dc).mail_url

    def __init__(self, ctx: ConnectorContext) -> None:
        zoho = settings_as(ctx.config, ZohoSettings)
        self.dc: DataCentre = data_centre(zoho.dc)
        self.accounts_url = accounts_url(zoho, mode=ctx.mode, base_url=ctx.base_url)
        wire = AuditedTransport(ctx.inner, classifier=self._classifier())
        self._account: m.Account | None = None
        self._account_lock = asyncio.Lock()
        self._raw_inner = ctx.inner
        super().__init__(dataclasses.replace(ctx, inner=wire))
        self.writes = WriteGuard(
            connector=self.name,
            title=self.title,
            allow_writes=self.config.allow_writes,
            store_id=self.config.store,
            mode=self.mode,
            store=ctx.store,
            audit=ctx.audit,
            deadline_s=self.knobs.deadline,
        )

    def _classifier(self) -> ZohoClassifier:
        return ZohoClassifier(title=self.title, connector=self.name, credential_hint=self.credential_hint)

    def make_classifier(self) -> Classifier:
        return self._classifier()

    def make_limiter(self) -> RateLimiter:
        # The knobs win when set; otherwise Zoho's own published pace.
        rate = self.knobs.rate_limit if "rate_limit" in self.knobs.model_fields_set else ZOHO_RATE_PER_S
        burst = self.knobs.rate_burst if "rate_burst" in self.knobs.model_fields_set else ZOHO_RATE_BURST
        return TokenBucketLimiter(rate=rate, capacity=burst, clock=self.clock)

    def make_auth(self) -> Authenticator:
        s = self.config
        mock = self.mode == "mock" or not (s.client_id and s.client_secret and s.refresh_token)
        cache: TokenCache
        if mock:
            demo = self.ctx.demo
            client_id, secret, refresh = demo.client_id, SecretStr(demo.client_secret), SecretStr(demo.refresh_token)
            cache = MemoryTokenCache()  # a demo token is only good for this process's fake
        else:
            assert s.client_id and s.client_secret and s.refresh_token
            client_id, secret, refresh = s.client_id, s.client_secret, s.refresh_token
            sealed = self.ctx.tokens("zoho") if self.ctx.tokens is not None else None
            cache = StoreTokenCache(self.ctx.store, tokens=sealed) if self.ctx.store is not None else MemoryTokenCache()
        # Token requests bypass the pipeline (they have their own limits, classifier and retries, within
        # the Mail request's deadline) but share its wire.
        self.token_client = httpx2.AsyncClient(
            transport=SharedTransport(self._raw_inner),
            timeout=httpx2.Timeout(self.knobs.timeout, connect=self.knobs.connect_timeout),
            headers={"User-Agent": "storelink"},
        )
        self.oauth = ZohoOAuth(
            client_id=client_id,
            client_secret=secret,
            refresh_token=refresh,
            accounts_url=self.accounts_url,
            api_host=httpx2.URL(self.ctx.base_url).host,
            client=self.token_client,
            cache=cache,
            dc=self.dc.code,
            wall=self.wall,  # epoch seconds that move with the loop (and with looptime)
            shared=self.ctx.shared.tokens if self.ctx.shared is not None else None,
            clock=self.clock,
            retry=retry_policy(self.knobs),
            attempt_timeout_s=self.knobs.timeout,
            connect_timeout_s=self.knobs.connect_timeout,
            deadline_s=self.knobs.deadline,
            random=self.ctx.random,
        )
        return self.oauth

    def credential_partition(self) -> str:
        return self.oauth.identity[:16]

    async def aclose(self) -> None:
        await self.token_client.aclose()
        await super().aclose()

    # -- requests ----------------------------------------------------------------------------------
    async def api(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        cache_ttl_s: float | None = 0.0,
        write: bool = False,
    ) -> Any:
        """One Mail API request; returns the envelope's ``data``. A token fetched for it shares its deadline."""
        deadline = call_deadline.set(Deadline.after(self.clock, self.policy.deadline_s))
        try:
            response = await self.http.request(
                method,
                f"/api{path}",
                operation=operation,
                params=params,
                json=json,
                cache_ttl_s=cache_ttl_s,
                write=write,
                idempotent=False,  # Zoho honours no idempotency key
            )
        finally:
            call_deadline.reset(deadline)
        return _data(response)

    async def account(self) -> m.Account:
        """ZOHO_ACCOUNT_ID's account, else the first one (looked up once)."""
        if self._account is not None:
            return self._account
        async with self._account_lock:
            if self._account is None:
                accounts = await self._accounts(operation="list_accounts")
                wanted = self.config.account_id if self.mode == "live" else None
                chosen = next((a for a in accounts if a.account_id == wanted), None) if wanted else None
                if wanted and chosen is None:
                    raise ConnectorError(
                        ErrorKind.NOT_FOUND,
                        f"ZOHO_ACCOUNT_ID={wanted} is not among this user's Zoho Mail accounts "
                        f"({', '.join(a.account_id for a in accounts) or 'none'}); fix or unset it.",
                        retryable=False,
                    )
                if chosen is None and not accounts:
                    raise ConnectorError(ErrorKind.NOT_FOUND, "This Zoho user has no Mail account.", retryable=False)
                self._account = chosen or accounts[0]
        return self._account

    async def _accounts(self, *, operation: str) -> list[m.Account]:
        data = await self.api("GET", "/accounts", operation=operation, cache_ttl_s=None)
        return [_account(a) for a in _list(data)]

    async def _folders(self, account_id: str, *, operation: str) -> list[m.Folder]:
        data = await self.api("GET", f"/accounts/{account_id}/folders", operation=operation, cache_ttl_s=None)
        return [_folder(f) for f in _list(data)]

    async def _folder_id(self, account_id: str, folder: str, *, operation: str) -> str:
        wanted = folder.strip()
        if wanted.isdigit():
            return wanted
        folders = await self._folders(account_id, operation=operation)
        lowered = wanted.lower().strip("/")
        for f in folders:
            if lowered in (f.name.lower(), (f.path or "").lower().strip("/")):
                return f.folder_id
        raise ConnectorError(
            ErrorKind.INVALID_REQUEST,
            f"This mailbox has no folder {folder!r}. Folders: {', '.join(f.name for f in folders)}.",
            retryable=False,
        )

    async def _paged(
        self, path: str, query: dict[str, Any], *, operation: str, start: int, limit: int
    ) -> tuple[list[m.MessageSummary], int | None]:
        """Pages of up to 200 from ``start`` until ``limit`` or a short page (api-facts §5.4)."""
        items: list[m.MessageSummary] = []
        position = start
        while len(items) < limit:
            size = min(m.PAGE_MAX, limit - len(items))
            data = await self.api("GET", path, operation=operation, params={**query, "start": position, "limit": size})
            page = [_summary(r) for r in _list(data)]
            items += page
            position += size
            if len(page) < size:
                return items, None
        return items, position

    # -- operations ----------------------------------------------------------------------------------
    @operation()
    async def list_accounts(self, params: NoParams) -> m.AccountList:
        """The Zoho Mail accounts this refresh token can read: ids and addresses. Scope: ZohoMail.accounts.READ."""
        return m.AccountList(items=await self._accounts(operation="list_accounts"))

    @operation()
    async def list_folders(self, params: NoParams) -> m.FolderList:
        """The mailbox's folders (Inbox, Sent, custom ones) with their ids. Scope: ZohoMail.folders.READ."""
        account = await self.account()
        folders = await self._folders(account.account_id, operation="list_folders")
        return m.FolderList(account_id=account.account_id, items=folders)

    @operation(example={"unread_only": True, "limit": 5})
    async def list_messages(self, params: m.ListMessagesParams) -> m.MessagePage:
        """Messages in a folder (default Inbox), newest first; `unread_only`, `limit`, `start` to page.

        Each item has the subject, sender, Zoho's snippet and the ids get_message needs.
        Scope: ZohoMail.messages.READ."""
        account = await self.account()
        query: dict[str, Any] = {}
        folder_id = None
        if params.folder:
            folder_id = await self._folder_id(account.account_id, params.folder, operation="list_messages")
            query["folderId"] = folder_id
        if params.unread_only:
            query["status"] = "unread"
        items, next_start = await self._paged(
            f"/accounts/{account.account_id}/messages/view",
            query,
            operation="list_messages",
            start=params.start,
            limit=params.limit,
        )
        return m.MessagePage(account_id=account.account_id, folder_id=folder_id, items=items, next_start=next_start)

    @operation(example={"text": "order", "limit": 5})
    async def search_messages(self, params: m.SearchMessagesParams) -> m.MessagePage:
        """Search every folder: `text` anywhere, `sender`, `to`, `subject`, `unread_only`, or raw Zoho
        syntax in `query`; newest first. Scope: ZohoMail.messages.READ."""
        terms = [
            f"entire:{params.text}" if params.text else None,
            f"sender:{params.sender}" if params.sender else None,
            f"to:{params.to}" if params.to else None,
            f"subject:{params.subject}" if params.subject else None,
            "newMails" if params.unread_only else None,
            params.query,
        ]
        key = "::".join(t.strip() for t in terms if t and t.strip())
        if not key:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                "Give something to search for: text, sender, to, subject, unread_only or query.",
                retryable=False,
            )
        account = await self.account()
        query: dict[str, Any] = {"searchKey": key, "includeto": "true"}
        if params.received_before is not None:
            when = params.received_before
            when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            query["receivedTime"] = int(when.timestamp() * 1000)
        items, next_start = await self._paged(
            f"/accounts/{account.account_id}/messages/search",
            query,
            operation="search_messages",
            start=params.start,
            limit=params.limit,
        )
        return m.MessagePage(account_id=account.account_id, items=items, next_start=next_start)

    @operation(example={"message_id": "1795564499000000006", "folder_id": "3881227000000008014"})
    async def get_message(self, params: m.GetMessageParams) -> m.Message:
        """One message: subject, addresses and its body as readable text (HTML turned into lines,
        lists and links). Scope: ZohoMail.messages.READ."""
        account = await self.account()
        base = f"/accounts/{account.account_id}/folders/{params.folder_id}/messages/{params.message_id}"
        content = await self.api("GET", f"{base}/content", operation="get_message", cache_ttl_s=CONTENT_TTL_S)
        if not isinstance(content, dict):
            raise _contract("the content answer is not an object")
        html = str(content.get("content") or "")
        details: dict[str, Any] = {}
        try:
            found = await self.api("GET", f"{base}/details", operation="get_message_details", cache_ttl_s=None)
            details = found if isinstance(found, dict) else {}
        except ConnectorError as err:
            if err.kind is not ErrorKind.NOT_FOUND:
                raise
        summary = _summary({**details, "messageId": params.message_id, "folderId": params.folder_id})
        return m.Message(
            message_id=params.message_id,
            folder_id=params.folder_id,
            subject=summary.subject or None,
            from_address=summary.from_address,
            sender=summary.sender,
            to_address=summary.to_address,
            cc_address=summary.cc_address,
            received_at=summary.received_at,
            text=html_to_text(html),
            links=links_in(html) if "<" in html else [],
            html=html if params.include_html else None,
        )

    @operation(
        write=True,
        example={"to": ["parts@example.com"], "subject": "Order #6579", "content": "It ships tomorrow."},
    )
    async def send_message(self, params: m.SendMessageParams) -> m.SentMessage:
        """Send a mail from the store's account. A write: allowed only when STORELINK_ALLOW_WRITES
        names `zoho.send_message`; never retried after a timeout or 5xx (the result says the outcome
        is unknown and what to check). Pass `idempotency_key` to make your own retries safe.
        Scope: ZohoMail.messages.CREATE."""
        summary = f"to={', '.join(params.to)}" + (f" cc={', '.join(params.cc)}" if params.cc else "")
        summary += f" subject={params.subject[:120]!r} ({len(params.content)} chars, {params.format})"

        async def send(key: str) -> m.SentMessage:
            account = await self.account()
            sender = params.from_address or account.email
            if not sender or sender.lower() not in {a.lower() for a in account.addresses}:
                raise ConnectorError(
                    ErrorKind.INVALID_REQUEST,
                    f"{sender or 'No from address'} is not an address of Zoho account {account.account_id} "
                    f"({', '.join(account.addresses)}); nothing was sent.",
                    retryable=False,
                )
            body = {
                "fromAddress": sender,
                "toAddress": ",".join(params.to),
                "ccAddress": ",".join(params.cc),
                "bccAddress": ",".join(params.bcc),
                "subject": params.subject,
                "content": params.content,
                "mailFormat": params.format,
                "askReceipt": "no",
            }
            data = await self.api(
                "POST", f"/accounts/{account.account_id}/messages", operation="send_message", json=body, write=True
            )
            message_id = data.get("messageId") if isinstance(data, dict) else None
            return m.SentMessage(
                message_id=str(message_id) if message_id else None,
                from_address=sender,
                to=params.to,
                subject=params.subject,
            )

        async def reconcile(started_at: float) -> m.SentMessage | None:
            return await self._find_sent(params, since=started_at)

        return await self.writes.run(
            "send_message",
            params,
            summary=summary,
            effect="sent the message",
            result_type=m.SentMessage,
            send=send,
            reconcile=reconcile,
        )

    async def _find_sent(self, params: m.SendMessageParams, *, since: float) -> m.SentMessage | None:
        """The message a send that started at ``since`` (wall seconds) left in the Sent folder, if
        it is there: same subject, every recipient, sent after it started. Reconciles an unknown
        outcome; the newest ``SENT_SCAN`` messages are read, newest first."""
        page = await self.list_messages(m.ListMessagesParams(folder="Sent", limit=SENT_SCAN))
        wanted = {a.lower() for a in params.to}
        for item in page.items:
            sent = item.sent_at or item.received_at
            if sent is not None and sent.timestamp() < since - CLOCK_SKEW_S:
                break  # newest first: older than the call, and so is everything after it
            if item.subject == params.subject and wanted <= _addresses(item.to_address):
                return m.SentMessage(
                    message_id=item.message_id,
                    from_address=item.from_address or params.from_address or "",
                    to=params.to,
                    subject=params.subject,
                )
        return None


# -- parsing ------------------------------------------------------------------------------------------
def _addresses(field: str | None) -> set[str]:
    """The mail addresses in a Zoho address field (``a@x.com,"Name" <b@y.com>``), lower-cased."""
    return {a.lower() for a in _ADDRESS.findall(field or "")}


def _contract(what: str) -> ConnectorError:
    return contract_error("Zoho Mail", what)


def _data(response: UpstreamResponse) -> Any:
    return envelope_field(response, "data", title="Zoho Mail", envelope="{status, data}")


def _list(data: Any) -> list[dict[str, Any]]:
    return object_list(data, title="Zoho Mail")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _ms(value: Any) -> dt.datetime | None:
    number = _int_or_none(value)
    if number is None or number <= 0:
        return None
    return dt.datetime.fromtimestamp(number / 1000.0, dt.UTC)


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# What Zoho's listings put where a message has no such address ("ccAddress": "Not Provided").
_NO_ADDRESS = "not provided"


def _address(value: Any) -> str | None:
    """An address field, or None when Zoho says there is none."""
    text = _str_or_none(value)
    return None if text is None or text.strip().lower() == _NO_ADDRESS else text


def _account(row: dict[str, Any]) -> m.Account:
    addresses = [a for a in row.get("emailAddress") or [] if isinstance(a, dict) and a.get("mailId")]
    confirmed = [a for a in addresses if a.get("isConfirmed", True) is not False]
    confirmed.sort(key=lambda a: not a.get("isPrimary"))
    primary = next((str(a["mailId"]) for a in confirmed if a.get("isPrimary")), None)
    return m.Account(
        account_id=str(row.get("accountId") or ""),
        email=primary or (str(confirmed[0]["mailId"]) if confirmed else _str_or_none(row.get("incomingUserName"))),
        addresses=[str(a["mailId"]) for a in confirmed],
        display_name=_str_or_none(row.get("displayName") or row.get("accountDisplayName")),
        mailbox_status=_str_or_none(row.get("mailboxStatus")),
        type=_str_or_none(row.get("type")),
    )


def _folder(row: dict[str, Any]) -> m.Folder:
    return m.Folder(
        folder_id=str(row.get("folderId") or ""),
        name=str(row.get("folderName") or ""),
        type=_str_or_none(row.get("folderType")),
        path=_str_or_none(row.get("path")),
        archived=_flag(row.get("isArchived")),
    )


def _summary(row: dict[str, Any]) -> m.MessageSummary:
    status = row.get("status")
    return m.MessageSummary(
        message_id=str(row.get("messageId") or ""),
        folder_id=str(row.get("folderId") or ""),
        thread_id=_str_or_none(row.get("threadId")),
        subject=str(row.get("subject") or ""),
        summary=_str_or_none(row.get("summary")),
        sender=_str_or_none(row.get("sender")),
        from_address=_str_or_none(row.get("fromAddress")),
        to_address=_address(row.get("toAddress")),
        cc_address=_address(row.get("ccAddress")),
        received_at=_ms(row.get("receivedTime")),
        sent_at=_ms(row.get("sentDateInGMT")),
        size=_int_or_none(row.get("size")),
        has_attachment=_flag(row.get("hasAttachment")),
        unread=str(status) == "0",
        priority=_int_or_none(row.get("priority")),
    )
