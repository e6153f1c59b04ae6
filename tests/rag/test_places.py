"""The countries a text names: ISO 3166 names, the everyday ones, US states; "us" is a pronoun."""

from __future__ import annotations

import pytest

from storelink.rag.places import places_named


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("how much does dhl shipping to australia cost", {"AU"}),
        ("Standard shipping is free on US orders over $99.", {"US"}),
        ("We ship to Canada, the United Kingdom, Australia and Germany.", {"CA", "GB", "AU", "DE"}),
        ("do you ship to the uk?", {"GB"}),
        ("we're in the U.S. and ship from the U.K.", {"US", "GB"}),
        ("i live in new mexico", {"US"}),  # the longest name wins: a state, not Mexico
        ("shipping to mexico city", {"MX"}),
        ("is south korea on your list", {"KR"}),  # "Korea, Republic of": its common name
        ("Viet Nam or vietnam", {"VN"}),
        ("can you email us back", set()),  # a pronoun
        ("im in toronto", set()),  # a city names no country here
        ("jordan brake lines", set()),  # left out: more often a name than the country
        ("", set()),
    ],
)
def test_the_countries_a_text_names(text: str, codes: set[str]) -> None:
    assert places_named(text) == codes
