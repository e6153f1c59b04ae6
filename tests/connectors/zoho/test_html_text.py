"""HTML mail bodies as readable text."""

from __future__ import annotations

from storelink.connectors.zoho.html_text import html_to_text, links_in

MAIL = """<html><head><style>p { color: red }</style><title>ignored</title></head><body>
<div>Hi Ava,</div><div><br></div>
<p>Your order <b>#1042</b> shipped &amp; is on its way.&nbsp;Track it <a href="https://track.example/1Z9">here</a>.</p>
<ul><li>IronClad Brake Pads &times; 2</li><li>Rotors<ul><li>Front</li></ul></li></ul>
<ol><li>Unbox</li><li>Bed in</li></ol>
<table><tr><th>SKU</th><th>Qty</th></tr><tr><td>ICB-BP-0000-FRON</td><td>4</td></tr></table>
<blockquote>On Mon, Ava wrote:<br>Where is my order?</blockquote>
<script>alert("no")</script>
<p>Mail <a href="mailto:support@apex.example">support@apex.example</a></p></body></html>"""


def test_structure_survives() -> None:
    text = html_to_text(MAIL)
    assert text.splitlines() == [
        "Hi Ava,",
        "",
        "Your order #1042 shipped & is on its way. Track it here (https://track.example/1Z9).",
        "",
        "- IronClad Brake Pads × 2",
        "- Rotors",
        "  - Front",
        "1. Unbox",
        "2. Bed in",
        "",
        "SKU | Qty",
        "ICB-BP-0000-FRON | 4",
        "",
        "> On Mon, Ava wrote:",
        "> Where is my order?",
        "",
        "Mail support@apex.example",
    ]


def test_nothing_hidden_leaks_in() -> None:
    text = html_to_text(MAIL)
    assert "alert" not in text and "color" not in text and "ignored" not in text and "<" not in text


def test_links() -> None:
    assert links_in(MAIL) == ["https://track.example/1Z9", "mailto:support@apex.example"]


def test_plain_text_passes_through() -> None:
    assert html_to_text("Hi,\n\nIt ships today.\n") == "Hi,\n\nIt ships today."


def test_preformatted_text_keeps_its_lines() -> None:
    assert html_to_text("<pre>a\n  b</pre><p>c</p>") == "a\n  b\n\nc"
