"""What kind of answer a question asks for, and whether a sentence states one.

A bi-encoder's cosine says a sentence is *about* what the question is about, not that it answers
it: "what is the top speed with the Titan exhaust" is nearest the exhaust's "Brand: Titan Exhaust."
line, "how often should I change my brake fluid" nearest a sentence on which fluid to use. A
question that asks for a quantity in a unit ("how much power", "top speed", "how often", "what
time", "how much does it weigh"), a street address, an e-mail address, a phone number or a part
number is answered only by a sentence that states one, so the answer selector counts a sentence
that states none as a weaker answer (``AnswerWeights.type_miss``); when no sentence states one, the
best is often under the "not found" threshold, as it should be.

The table is short on purpose: a question that matches none of it (most of them) is scored by
meaning alone. The more specific kinds come first: "how much power" asks for power, not a price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ANSWER_TYPES", "AnswerType", "asked_type"]

_NUMBER = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|sixty|ninety)"
_TIME_UNIT = r"(minutes?|hours?|days?|business days?|weeks?|months?|years?)"
_LENGTH_UNIT = r"(mm|cm|m|in|inch|inches|ft|feet)"
_JOIN = r"[\s-]?"  # "12 months", "12months", "two-year warranty"


@dataclass(frozen=True, slots=True)
class AnswerType:
    name: str
    asks: re.Pattern[str]  # the question asks for this kind of answer
    states: re.Pattern[str]  # a sentence states one

    def stated_in(self, sentence: str) -> bool:
        return self.states.search(sentence) is not None


def _kind(name: str, asks: str, states: str) -> AnswerType:
    return AnswerType(name, re.compile(asks, re.IGNORECASE), re.compile(states, re.IGNORECASE))


ANSWER_TYPES: tuple[AnswerType, ...] = (
    _kind("power", r"\b(horsepower|whp|bhp|hp|power)\b", rf"\d{_JOIN}(whp|bhp|hp|kw)\b"),
    _kind("torque", r"\btorque\b", rf"\d{_JOIN}(%|percent|lb-?ft|nm)(?!\w)"),
    _kind("speed", r"\b(top speed|mph|km/h)\b", rf"\d{_JOIN}(mph|km/h|kph)\b"),
    _kind("weight", r"\b(weigh|weighs|weight)\b|\bhow heavy\b", rf"\d{_JOIN}(kg|lbs?|pounds|kilograms|g)\b"),
    _kind(
        "volume",
        r"\bhow much (oil|fluid|coolant|fuel)\b|\bcapacity\b|\bhow many (quarts|litres|liters)\b",
        rf"\d(\.\d+)?{_JOIN}(l|litres?|liters?|quarts?|qt|ml)\b",
    ),
    _kind(
        "clock",
        r"\bwhat time\b|\bopening hours\b|\bwhen\b.*\b(open|close)s?\b",
        r"\b\d{1,2}(:\d\d)?\s?(am|pm)\b|\bnoon\b|\bmidnight\b",
    ),
    _kind(
        "duration",
        r"\bhow (long|quickly|soon)\b|\bhow many (minutes|hours|days|weeks|months|years)\b",
        rf"\b{_NUMBER}(\s?(-|to)\s?\d+)?{_JOIN}({_TIME_UNIT}|{_LENGTH_UNIT})\b|\blifetime\b|\bsince (19|20)\d\d\b",
    ),
    _kind(
        "frequency",
        r"\bhow often\b",
        rf"\bevery\b|\d[\d,]*{_JOIN}(miles|km|months?|years?|hours?)\b|\b(once|twice|annually|yearly|monthly)\b",
    ),
    _kind(
        "distance",
        r"\bhow (many|far)\b.*\b(miles|km|kilometres|kilometers)\b|\bhow far\b",
        rf"\d[\d,]*{_JOIN}(miles|mi|km|kilometres|kilometers)\b",
    ),
    _kind("pressure", r"\b(pressures?|psi|boost)\b", rf"\d{_JOIN}(psi|bar|kpa)\b"),
    _kind(
        "temperature",
        r"\b(temperatures?|boiling points?|how hot|degrees)\b",
        rf"\d{_JOIN}(°\s?[cf]|degrees|celsius|fahrenheit)",
    ),
    _kind("share", r"\bhow (big|much) (is |of )?(a |the |your )?discount\b|\bpercent(age)?\b", r"\d\s?(%|percent)"),
    _kind(
        "money",
        # "how much is / does / for", not "by how much" or "how much lighter"; "pay" only as "what does
        # the job pay", not "can I pay by card"
        r"\bhow much (is|are|does|do|did|will|would|for|to|extra|more)\b"
        r"|\b(cost|costs|price of|fee for|salary|wages?|hourly)\b|\bwhat (does|do|would|will)\b.*\bpay\W*$",
        r"\$\s?\d|\bfree\b|\d\s?%|\bno (charge|fee|cost)\b",
    ),
    _kind("count", r"\bhow many\b", rf"\b({_NUMBER}|\d[\d,.]*)\b"),
    # what a shop's contact page and product tables state: "1450 Industrial Way", "APX-AI-0100-CARB"
    _kind("email", r"\be-?mail address\b|\bwhat('?s| is) (your|the) e-?mail\b", r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    _kind(
        "address",
        # "what's the address of…", "your address": not "ship to my address", not an e-mail address
        r"\b(what|whats|what's)\b(?!.*\be-?mail\b).*\baddress\b"
        r"|\baddress of\b|\byour (street |postal |mailing )?address\b",
        r"\b\d{1,5}(\s+[\w.]+){1,3}\s+(way|st|street|dr|drive|ave|avenue|rd|road|blvd|boulevard|lane|ln|court|ct|"
        r"parkway|pkwy|place|pl)\b\.?",
    ),
    _kind("phone", r"\b(phone|telephone)( number)?\b|\bnumber to call\b", r"\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"),
    _kind(
        "part number",
        r"\b(part|model|item) (number|no\.?|#)|\bsku\b|\bpart ?#",
        r"(?-i:\b(?=[A-Z0-9-]*\d)[A-Z0-9]{2,}(-[A-Z0-9]+){2,}\b)",
    ),
)


def asked_type(question: str) -> AnswerType | None:
    """The kind of answer ``question`` asks for, or None when it asks for none in particular."""
    return next((kind for kind in ANSWER_TYPES if kind.asks.search(question)), None)
