"""What the Google connectors (GA4, Search Console) share: OAuth credentials (a refresh token or a
service account, or the fakes' demo token in mock mode). Token expiry and quota windows read the
connector's wall clock (``Connector.wall``)."""

from __future__ import annotations

from typing import ClassVar

import httpx2

from storelink.auth.google import GoogleTokenManager, StaticBearer, google_authenticator
from storelink.connectors.base import Connector
from storelink.resilience.pipeline import Authenticator
from storelink.stores import GoogleSettings

__all__ = ["GoogleConnector"]


class GoogleConnector(Connector):
    credential_hint = "GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_REFRESH_TOKEN)"
    settings_type = GoogleSettings
    config: GoogleSettings
    scope: ClassVar[str]  # the scope a token is minted for
    accepted_scopes: ClassVar[tuple[str, ...]]  # scopes of which a token must carry one

    def make_auth(self) -> Authenticator:
        self.auth: GoogleTokenManager | StaticBearer
        self.auth, self._partition = google_authenticator(
            account=self.config.google,
            live=self.mode == "live",
            demo_token=self.ctx.demo.access_token,
            connector=self.name,
            scopes=(self.scope,),
            accepted_scopes=self.accepted_scopes,
            inner=self.ctx.inner,
            clock=self.clock,
            wall=self.wall,
            store=self.ctx.store,
            api_host=httpx2.URL(self.ctx.base_url).host,
            timeout_s=self.knobs.timeout,
            shared=self.ctx.shared.tokens if self.ctx.shared is not None else None,
            tokens=self.ctx.tokens("google") if self.ctx.tokens is not None else None,
        )
        return self.auth

    async def aclose(self) -> None:
        await self.auth.aclose()
        await super().aclose()
