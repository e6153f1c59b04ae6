"""Zoho Mail operation parameters and results (DTOs).

Zoho sends ids and timestamps as strings of 64-bit numbers; ids stay strings here (no precision
lost) and timestamps (ms since the epoch) become aware UTC datetimes. Flags Zoho spells as
``"0"``/``"1"`` or ``"true"``/``"false"`` become booleans. Id parameters take the id as text or as
a JSON number.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storelink.connectors.paging import Paging
from storelink.connectors.writes import IdempotencyKey, WriteReceipt
from storelink.errors import clip

__all__ = [
    "MAX_LIMIT",
    "PAGE_MAX",
    "Account",
    "AccountList",
    "Folder",
    "FolderList",
    "GetMessageParams",
    "ListMessagesParams",
    "Message",
    "MessagePage",
    "MessageSummary",
    "SearchMessagesParams",
    "SendMessageParams",
    "SentMessage",
]

PAGE_MAX = 200  # Zoho's largest `limit` per request
MAX_LIMIT = 1000


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


# --- accounts and folders ----------------------------------------------------------------------
class Account(BaseModel):
    account_id: str
    email: str | None = Field(description="The primary address.")
    addresses: list[str] = Field(description="Every confirmed address mail may be sent from (primary first).")
    display_name: str | None = None
    mailbox_status: str | None = None
    type: str | None = None


class AccountList(BaseModel):
    items: list[Account]


class Folder(BaseModel):
    folder_id: str
    name: str
    type: str | None = None
    path: str | None = None
    archived: bool = False


class FolderList(BaseModel):
    account_id: str
    items: list[Folder]


# --- messages --------------------------------------------------------------------------------------
class _Paging(_Params):
    paging: ClassVar[Paging] = Paging(size="limit", position="start", next_position="next_start")

    limit: int = Field(20, ge=1, le=MAX_LIMIT, description=f"Most messages to return (pages of {PAGE_MAX} fetched).")
    start: int = Field(1, ge=1, description="1-based position to start from (a previous `next_start`).")


class ListMessagesParams(_Paging):
    folder: str | None = Field(
        "Inbox", description="Folder name (`Inbox`, `Sent`, …), path or id; null for every folder."
    )
    unread_only: bool = Field(False, description="Only unread messages.")


class SearchMessagesParams(_Paging):
    text: str | None = Field(None, description="Words anywhere in the message (subject, body, addresses).")
    sender: str | None = Field(None, description="Sender address or name contains this.")
    to: str | None = Field(None, description="A recipient address contains this.")
    subject: str | None = Field(None, description="The subject contains this.")
    unread_only: bool = Field(False, description="Only unread messages.")
    query: str | None = Field(None, description="Raw Zoho search syntax (`subject:refund`); combined with the rest.")
    received_before: dt.datetime | None = Field(None, description="Only mail received before this instant.")


class MessageSummary(BaseModel):
    message_id: str
    folder_id: str
    thread_id: str | None = None
    subject: str
    summary: str | None = Field(None, description="Zoho's snippet of the body.")
    sender: str | None = Field(None, description="The sender's display name.")
    from_address: str | None = None
    to_address: str | None = None
    cc_address: str | None = None
    received_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    size: int | None = None
    has_attachment: bool = False
    unread: bool = False
    priority: int | None = None


class MessagePage(BaseModel):
    account_id: str
    folder_id: str | None = None
    items: list[MessageSummary]
    next_start: int | None = Field(None, description="Pass as `start` to continue; null at the end.")


class GetMessageParams(_Params):
    message_id: str = Field(description="From list_messages or search_messages.")
    folder_id: str = Field(description="The message's folder_id (from the same listing).")
    include_html: bool = Field(False, description="Also return the original HTML body.")


class Message(BaseModel):
    message_id: str
    folder_id: str
    subject: str | None = None
    from_address: str | None = None
    sender: str | None = None
    to_address: str | None = None
    cc_address: str | None = None
    received_at: dt.datetime | None = None
    text: str = Field(description="The body as readable text (HTML turned into lines, lists, links).")
    links: list[str] = Field(default_factory=list)
    html: str | None = None


# --- sending ----------------------------------------------------------------------------------------
class SendMessageParams(_Params):
    to: list[str] = Field(min_length=1, max_length=50, description="Recipient addresses.")
    cc: list[str] = Field(default_factory=list, max_length=50)
    bcc: list[str] = Field(default_factory=list, max_length=50)
    subject: str = Field(min_length=1, max_length=500)
    content: str = Field(min_length=1, max_length=200_000, description="The body.")
    format: Literal["plaintext", "html"] = Field("plaintext", description="How `content` is written.")
    from_address: str | None = Field(None, description="One of the account's addresses; default: its primary one.")
    idempotency_key: IdempotencyKey = None

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, at, domain = address.rpartition("@")
            if not at or not local or "." not in domain or any(c in address for c in " ,;<>\"'"):
                raise ValueError(f"{clip(address)!r} is not an e-mail address")
        return value


class SentMessage(WriteReceipt):
    message_id: str | None = Field(None, description="Zoho's id of the sent message, when it says.")
    from_address: str
    to: list[str]
    subject: str
