"""Which countries a text names, so that an answer about another country is not taken for one.

"How much does shipping to Australia cost" is nearest in meaning to "Standard shipping is free on
US orders over $99": about shipping, with a price, and about the wrong country. A bi-encoder
cannot tell; a list of names can. The answer selector counts a sentence that names countries, none
of them the one asked about, as a miss (:func:`storelink.rag.extractive.weighted_score`).

Names come from ISO 3166 (pycountry: the short, common and official names, and the part before a
comma: "Korea, Republic of" → "Korea"), with the everyday ones it lacks ("UK", "Britain",
"America", "Holland") and the US states, which name the US. "US" and "U.S." count only in capitals:
"us" is a pronoun. Names that are more often something else in a shop's questions ("Jordan",
"Chad", "Turkey") are left out.
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["places_named"]

_ALIASES = {
    "US": ("usa", "u.s.a.", "united states", "america", "the states"),
    "GB": ("uk", "u.k.", "britain", "great britain", "england", "scotland", "wales", "northern ireland"),
    "NL": ("holland",),
    "RU": ("russia",),
    "CZ": ("czech republic",),
    "AE": ("uae", "dubai"),
}
_US_STATES = (
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho "
    "illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota "
    "mississippi missouri montana nebraska nevada new_hampshire new_jersey new_mexico new_york "
    "north_carolina north_dakota ohio oklahoma oregon pennsylvania rhode_island south_carolina "
    "south_dakota tennessee texas utah vermont virginia washington west_virginia wisconsin wyoming"
)
_AMBIGUOUS = frozenset({"jordan", "chad", "turkey"})  # Georgia stays: the US states come after the countries
_US_CAPITALS = re.compile(r"(?<![\w.])(US|U\.S\.)(?![\w])")


_WORD = re.compile(r"[^\W\d_]+")  # "U.K." -> "u", "k"


def _key(name: str) -> str:
    return " ".join(_WORD.findall(name.lower()))


@cache
def _names() -> tuple[dict[str, str], int]:
    """Each name (as its words, lower case) with the country code it names, and the most words
    in a name."""
    import pycountry  # imported on first use: it reads its ISO 3166 data file

    code_of: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name:
                for form in (name, name.split(",")[0]):
                    code_of.setdefault(_key(form), country.alpha_2)
    for code, names in _ALIASES.items():
        code_of.update(dict.fromkeys(map(_key, names), code))
    code_of.update(dict.fromkeys((state.replace("_", " ") for state in _US_STATES.split()), "US"))
    for name in _AMBIGUOUS:
        code_of.pop(name, None)
    return code_of, max(len(name.split()) for name in code_of)


def places_named(text: str) -> frozenset[str]:
    """The ISO 3166 alpha-2 codes of the countries ``text`` names (a US state names the US). The
    longest name wins where names overlap: "New Mexico" is a state, not Mexico."""
    code_of, longest = _names()
    words = _WORD.findall(text.lower())
    found: set[str] = set()
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            code = code_of.get(" ".join(words[i : i + n]))
            if code is not None:
                found.add(code)
                i += n
                break
        else:
            i += 1
    if _US_CAPITALS.search(text):
        found.add("US")
    return frozenset(found)
