"""The installations registry: an uninstall deletes the shop's tokens and turns its store's tools to
``disabled``; with PostgreSQL, installed (and uninstalled) shops come back as stores after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelink.database.postgres import Database
from storelink.errors import ConnectorError, ErrorKind
from storelink.runtime import Fleet, open_fleet
from storelink.settings import Settings
from storelink.shopify_app.installations import Installations
from tests.shopify_app.app_support import Clock, app_settings, fake_for, install_grant
from tests.support.postgres_server import SHARED_POSTGRES_URL

ACME, BOLT = "acme.myshopify.com", "bolt.myshopify.com"


async def shop_info_error(fleet: Fleet, store: str) -> ConnectorError:
    runtime = await fleet.runtime(store)
    with pytest.raises(ConnectorError) as caught:
        await runtime.registry.get("shopify").call("shop_info", {})
    return caught.value


async def test_uninstall_deletes_the_tokens_and_disables_the_store(tmp_path: Path) -> None:
    clock = Clock()
    fake = fake_for(clock)
    settings = app_settings(tmp_path, mcp_force_mocks=True)
    async with open_fleet(settings) as fleet:
        installations = Installations(settings, fleet=fleet, wall=clock)
        for shop in (ACME, BOLT):
            await installations.record(shop, await install_grant(fake, shop))
        runtime = await fleet.runtime("acme")
        assert (await runtime.registry.get("shopify").call("shop_info", {})).data.name == ACME

        await installations.uninstall(ACME)

        assert await installations.records.read("acme", ACME) is None
        assert await installations.store_for(ACME) is None
        assert [row.shop for row in await installations.installed()] == [BOLT]
        error = await shop_info_error(fleet, "acme")
        assert error.kind is ErrorKind.DISABLED
        # The other shop is untouched.
        assert await installations.records.read("bolt", BOLT) is not None
        bolt = await fleet.runtime("bolt")
        assert (await bolt.registry.get("shopify").call("shop_info", {})).data.name == BOLT


async def test_uninstalling_a_shop_never_installed_does_nothing(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, mcp_force_mocks=True)
    async with open_fleet(settings) as fleet:
        installations = Installations(settings, fleet=fleet)
        await installations.uninstall(ACME)
        assert fleet.ids() == ["default"] and await installations.store_for(ACME) is None


async def test_an_install_without_a_secret_key_is_refused(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, secret_key=None)
    installations = Installations(settings)
    grant = await install_grant(fake_for(Clock()), ACME)
    with pytest.raises(ConnectorError) as caught:
        await installations.record(ACME, grant)
    assert caught.value.kind is ErrorKind.NOT_CONFIGURED and "STORELINK_SECRET_KEY" in caught.value.message
    assert await installations.installed() == []


# -- PostgreSQL: installs outlive restarts ------------------------------------------------------------


async def replica(settings: Settings, fleet: Fleet, schema: str) -> tuple[Installations, Database]:
    db = Database(SHARED_POSTGRES_URL, schema=schema)
    await db.open()
    return Installations(settings, database=db, fleet=fleet), db


@pytest.mark.slow
async def test_installed_shops_come_back_as_stores_after_a_restart(tmp_path: Path, schema: str) -> None:
    fake = fake_for(Clock())
    settings = app_settings(tmp_path, mcp_force_mocks=True)
    async with open_fleet(settings) as fleet:
        before, db = await replica(settings, fleet, schema)
        for shop in (ACME, BOLT):
            await before.record(shop, await install_grant(fake, shop))
        await before.uninstall(BOLT)
        await db.close()
    # A new process (or another replica) on the same database.
    async with open_fleet(settings) as fleet:
        assert fleet.ids() == ["default"]
        after, db = await replica(settings, fleet, schema)
        try:
            restored = await after.restore()
            assert [(row.shop, row.active) for row in restored] == [(ACME, True), (BOLT, False)]
            assert fleet.ids() == ["default", "acme", "bolt"]
            assert await after.store_for(ACME) == "acme" and await after.store_for(BOLT) is None
            stored = await after.records.read("acme", ACME)
            assert stored is not None and stored.refresh_token is not None
            runtime = await fleet.runtime("acme")
            assert (await runtime.registry.get("shopify").call("shop_info", {})).data.name == ACME
            assert (await shop_info_error(fleet, "bolt")).kind is ErrorKind.DISABLED
            assert await after.records.read("bolt", BOLT) is None
        finally:
            await db.close()
