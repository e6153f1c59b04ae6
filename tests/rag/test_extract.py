"""Main-text extraction: a page's own text, never the site's menu, banner or footer around it."""

from __future__ import annotations

from storelink.rag.extract import extract_main

CHROME_WORDS = ("Free shipping over $99", "Brake Pads", "Cart (0)", "Newsletter", "All rights reserved")


def page(main: str, *, landmark: str = "main") -> str:
    """A themed page around ``main``: shorter than the 250 characters below which trafilatura
    falls back to reading the whole body."""
    return f"""<!DOCTYPE html><html lang="en"><head><title>Careers | Shop</title></head><body>
<header><div class="announcement">Free shipping over $99</div>
<nav><ul><li><a href="/c/brake-pads">Brake Pads</a></li><li><a href="/c/oil">Engine Oil</a></li>
<li><a href="/cart">Cart (0)</a></li></ul></nav></header>
<nav class="breadcrumbs"><a href="/">Home</a> / <span>Careers</span></nav>
<{landmark} id="content"><article><h1>Careers</h1>{main}</article></{landmark}>
<aside><p>Newsletter: deals and new arrivals.</p></aside>
<footer><ul><li><a href="/policies/shipping">Shipping</a></li></ul><p>All rights reserved.</p></footer>
</body></html>"""


SHORT = "<h2>Open roles</h2><p>We are hiring a warehouse associate in Reno.</p>"


def test_a_short_page_is_its_main_landmark_without_the_sites_chrome() -> None:
    text = extract_main(page(SHORT), "https://shop.example/pages/careers").text

    assert "We are hiring a warehouse associate in Reno." in text
    assert "## Open roles" in text  # its headings kept for the chunker
    assert not [w for w in CHROME_WORDS if w in text]


def test_without_a_main_landmark_navigation_banner_footer_and_sidebar_are_left_out() -> None:
    text = extract_main(page(SHORT, landmark="div"), "https://shop.example/pages/careers").text

    assert "We are hiring a warehouse associate in Reno." in text
    assert not [w for w in CHROME_WORDS if w in text]


def test_a_header_inside_the_article_is_content() -> None:
    main = "<header><p>Posted 2026-11-02 by the Reno team.</p></header>" + SHORT
    text = extract_main(page(main, landmark="div"), "https://shop.example/blog/hiring").text

    assert "Posted 2026-11-02 by the Reno team." in text
    assert "Cart (0)" not in text


def test_a_page_without_a_body_is_no_text() -> None:
    assert extract_main("", None).text == ""
    assert extract_main("<html><head><title>x</title></head></html>", None).text == ""


def test_the_links_kept_are_those_of_the_main_text() -> None:
    main = (
        '<p>Get the <a href="/pages/checklist">track day checklist</a> and the '
        '<a href="/pages/checklist">track day checklist</a>.</p><p><a href="/pages/faq">FAQ</a></p>'
    )
    links = extract_main(page(main)).links

    assert links == [("track day checklist", "/pages/checklist"), ("FAQ", "/pages/faq")]  # repeats once
    assert not [a for a, _ in links if a in CHROME_WORDS]  # not the menu's, the footer's or the breadcrumbs'
    assert extract_main("").links == []
