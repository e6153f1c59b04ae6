"""A connector over the generic fake: the smallest real connector, used by the core's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
from pydantic import BaseModel, ConfigDict, Field

from storelink.connectors.base import Connector, NoParams, operation
from storelink.resilience.pipeline import Authenticator
from storelink.settings import ConnectorKnobs, Settings
from storelink.stores import ConnectorSettings

DEFAULT_TOKEN = "generic-token"


class GenericKnobs(ConnectorKnobs):
    pass


class GenericSettings(Settings):
    generic: GenericKnobs = GenericKnobs(
        rate_limit=1000.0,
        rate_burst=1000.0,
        deadline=30.0,
        timeout=5.0,
        max_retries=3,
        backoff_base=0.5,
        backoff_cap=8.0,
        breaker_min_calls=4,
        breaker_window=4,
        breaker_open_s=20.0,
        breaker_half_open_calls=2,
        breaker_failure_rate=50.0,
        cache_ttl=0.0,
    )


class GenericConnectorSettings(ConnectorSettings):
    """The generic connector's own settings: the bearer token it sends."""

    token: str = DEFAULT_TOKEN


def generic_settings(tmp_path: Path, **knobs: Any) -> GenericSettings:
    base = GenericSettings.model_fields["generic"].default
    return GenericSettings(_env_file=None, data_dir=tmp_path / "data", generic=base.model_copy(update=knobs))


class Item(BaseModel):
    id: int
    name: str
    version: int


class ItemPage(BaseModel):
    items: list[Item]
    next_page: int | None


class ListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(1, ge=1)
    per_page: int = Field(10, ge=1, le=100)
    cache_ttl_s: float | None = None


class GetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: int


class SendParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    idempotency_key: str | None = None


class SlowParams(BaseModel):
    seconds: float


class _BearerAuth:
    """Static bearer token; ``refresh`` succeeds once if a replacement token is queued."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.next_token: str | None = None
        self.refreshes = 0

    async def apply(self, request: httpx2.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.token}"

    async def refresh(self, rejected: httpx2.Request) -> bool:
        self.refreshes += 1
        if self.next_token is None:
            return False
        self.token, self.next_token = self.next_token, None
        return True


class GenericConnector(Connector):
    name = "generic"
    title = "Generic"
    credential_hint = "GENERIC_TOKEN"
    probe = ("list_items", {"per_page": 1})

    @classmethod
    def live_base_url(cls, config: ConnectorSettings) -> str:
        return "https://generic.example"

    def make_auth(self) -> Authenticator:
        # Built from the environment (or renamed by tests/web as another connector), it has bare
        # settings and the default token.
        token = self.config.token if isinstance(self.config, GenericConnectorSettings) else DEFAULT_TOKEN
        self.auth = _BearerAuth(token)
        return self.auth

    def credential_partition(self) -> str:
        return self.auth.token[:4]

    @operation()
    async def list_items(self, params: ListParams) -> ItemPage:
        """A page of items."""
        response = await self.http.request(
            "GET",
            "/v1/items",
            operation="list_items",
            params={"page": params.page, "per_page": params.per_page},
            cache_ttl_s=params.cache_ttl_s,
        )
        return ItemPage.model_validate(response.json())

    @operation()
    async def get_item(self, params: GetParams) -> Item:
        """One item."""
        response = await self.http.request("GET", f"/v1/items/{params.item_id}", operation="get_item")
        return Item.model_validate(response.json())

    @operation(write=True)
    async def send_message(self, params: SendParams) -> dict[str, Any]:
        """A write."""
        headers = {"Idempotency-Key": params.idempotency_key} if params.idempotency_key else None
        response = await self.http.request(
            "POST",
            "/v1/messages",
            operation="send_message",
            json={"text": params.text},
            headers=headers,
            write=True,
            idempotent=params.idempotency_key is not None,
        )
        result: dict[str, Any] = response.json()
        return result

    @operation()
    async def slow(self, params: SlowParams) -> dict[str, Any]:
        """Slow."""
        response = await self.http.request("GET", "/v1/slow", operation="slow", params={"seconds": params.seconds})
        result: dict[str, Any] = response.json()
        return result


__all__ = ["GenericConnector", "GenericConnectorSettings", "GenericSettings", "NoParams", "generic_settings"]
