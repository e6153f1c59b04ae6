"""Ingest over the demo site: conditional requests, unchanged pages cost nothing, edits and deletions."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.site import SiteFake
from tests.rag.conftest import SITE, open_kb, paths


def page_requests(fake: SiteFake) -> tuple[int, int]:
    """(conditional, unconditional) requests for pages (not robots.txt or sitemaps)."""
    keep = [p for p in {*fake.conditional, *fake.unconditional} if not p.startswith(("/robots", "/sitemap"))]
    return sum(fake.conditional[p] for p in keep), sum(fake.unconditional[p] for p in keep)


async def test_second_ingest_makes_only_conditional_requests_and_changes_nothing(tmp_path: Path) -> None:
    fake = SiteFake(products=15)
    async with open_kb(tmp_path, fake) as kb:
        first = await kb.ingest()  # discovers first: nothing was discovered yet
        assert first.pages == len(fake.sitemap_paths() | fake.orphan_paths())
        assert first.updated == first.pages and first.chunks_total > first.pages
        chunks_before = {c.id: c.text for c in kb.docs.chunks()}
        conditional_before, unconditional_before = page_requests(fake)
        served_304_before = fake.not_modified

        second = await kb.ingest()

        conditional_after, unconditional_after = page_requests(fake)
        assert unconditional_after == unconditional_before  # not one unconditional page request
        assert conditional_after - conditional_before == second.pages
        assert fake.not_modified - served_304_before >= second.pages  # every page answered 304
        assert second.not_modified == second.unchanged == second.pages
        assert (second.updated, second.removed, second.chunks_added, second.chunks_removed) == (0, 0, 0, 0)
        assert {c.id: c.text for c in kb.docs.chunks()} == chunks_before


async def test_an_edited_page_is_reindexed(tmp_path: Path) -> None:
    fake = SiteFake(products=15)
    async with open_kb(tmp_path, fake) as kb:
        await kb.ingest()
        before, _ = await kb.search("heated seat warranty extension", 5)
        assert not any("heated" in p.text.lower() for p in before)
        untouched = {c.id for c in kb.docs.chunks() if not c.url.endswith("/policies/warranty")}

        fake.edit_page("/policies/warranty", "Heated seat kits now carry a three-year warranty extension.")
        report = await kb.ingest()

        assert report.updated == 1 and report.chunks_added >= 1
        assert report.not_modified == report.pages - 1
        passages, _ = await kb.search("heated seat warranty extension", 5)
        assert passages[0].url == f"{SITE}/policies/warranty"
        assert "three-year warranty extension" in passages[0].text
        assert untouched <= {c.id for c in kb.docs.chunks()}  # other pages' chunks kept their ids


async def test_a_deleted_page_is_removed(tmp_path: Path) -> None:
    fake = SiteFake(products=15)
    async with open_kb(tmp_path, fake) as kb:
        await kb.ingest()
        passages, _ = await kb.search("gift cards expire", 3)
        assert passages[0].url == f"{SITE}/pages/gift-cards"

        fake.delete_page("/pages/gift-cards")
        report = await kb.ingest()

        assert report.removed == 1 and report.chunks_removed >= 1
        assert f"{SITE}/pages/gift-cards" not in kb.docs.urls()
        assert kb.docs.page(f"{SITE}/pages/gift-cards") is None
        passages, _ = await kb.search("gift cards expire", 3)
        assert all(p.url != f"{SITE}/pages/gift-cards" for p in passages)


async def test_pages_that_leave_the_url_set_are_removed(tmp_path: Path) -> None:
    fake = SiteFake(products=15)
    async with open_kb(tmp_path, fake) as kb:
        await kb.ingest()
        fake.delete_page("/pages/careers")  # linked from /pages/about only: discovery no longer finds it
        await kb.discover()
        report = await kb.ingest()
    assert "/pages/careers" not in paths(kb.docs.urls())
    assert report.removed == 1


async def test_single_url_ingest(tmp_path: Path) -> None:
    fake = SiteFake(products=5)
    fake.add_page("/pages/new-arrivals", "New arrivals", "Fresh carbon intakes landed this week.", sitemap=None)
    async with open_kb(tmp_path, fake) as kb:
        report = await kb.ingest("/pages/new-arrivals")
        assert report.pages == 1 and report.updated == 1
        assert paths(kb.docs.urls()) == {"/pages/new-arrivals"}
        page = await kb.page(f"{SITE}/pages/new-arrivals/")
        assert page is not None and "carbon intakes" in page.text
        with pytest.raises(ConnectorError) as forbidden:
            await kb.ingest("/cart")
        assert forbidden.value.kind is ErrorKind.FORBIDDEN
        with pytest.raises(ConnectorError) as foreign:
            await kb.ingest("https://elsewhere.example/page")
        assert foreign.value.kind is ErrorKind.INVALID_REQUEST


async def test_dense_ingest_embeds_only_new_chunks(tmp_path: Path) -> None:
    """The embedding cache, keyed by (model hash, chunk hash): an unchanged site embeds nothing,
    an edit embeds only the changed chunk."""
    fake = SiteFake(products=2)
    async with open_kb(tmp_path, fake, dense=True) as kb:
        assert kb.index.mode == "hybrid"
        first = await kb.ingest()
        assert first.embedded == first.chunks_total > 0
        second = await kb.ingest()
        assert second.embedded == 0 and second.updated == 0
        fake.edit_page("/pages/faq/returns", "Opened spark plug sets can be returned if unused.")
        third = await kb.ingest()
        assert third.updated == 1 and 1 <= third.embedded <= third.chunks_added
        passages, mode = await kb.search("can I return opened spark plugs", 3)
    assert mode == "hybrid"
    assert passages[0].url == f"{SITE}/pages/faq/returns"


async def test_short_pages_are_chunked_without_the_sites_menu(tmp_path: Path) -> None:
    fake = SiteFake(products=3)
    async with open_kb(tmp_path, fake) as kb:
        await kb.ingest()
        careers = [c.text for c in kb.docs.chunks() if c.url == f"{SITE}/pages/careers"]

        assert careers and "warehouse associate in Reno" in " ".join(careers)
        # the theme's announcement bar and menu once made the careers page answer a shipping question
        assert not [t for t in careers if "Free US shipping" in t or "Cart (0)" in t or "Brake Pads" in t]


async def test_a_new_extractor_version_re_extracts_pages_and_keeps_unchanged_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SiteFake(products=3)
    async with open_kb(tmp_path, fake) as kb:
        monkeypatch.setattr("storelink.rag.ingest.EXTRACTOR_VERSION", "e0")
        first = await kb.ingest()
        ids = {c.id for c in kb.docs.chunks()}
        monkeypatch.undo()

        second = await kb.ingest()  # the site did not change, but what reads it did

        assert second.not_modified == second.pages and second.updated == first.updated
        assert {c.id for c in kb.docs.chunks()} == ids  # same text, same ids (and vectors)
        assert (await kb.ingest()).updated == 0


async def test_the_links_in_a_pages_text_are_kept_and_go_with_the_page(tmp_path: Path) -> None:
    fake = SiteFake(products=3)
    async with open_kb(tmp_path, fake) as kb:
        await kb.ingest()
        post = f"{SITE}/blogs/news/track-day-prep"

        assert ("track day checklist", f"{SITE}/pages/track-day-checklist") in kb.docs.links_from(post)
        assert not [a for a, _ in kb.docs.links_from(post) if a in ("Cart (0)", "Shipping", "Guides")]  # no menu
        kb.docs.delete_page(post)
        assert kb.docs.links_from(post) == []
