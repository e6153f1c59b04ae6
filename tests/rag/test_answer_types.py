"""Answer types: the kind of answer a question asks for, and the sentences that state one."""

from __future__ import annotations

import pytest

from storelink.rag.answer_types import asked_type


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how much horsepower will a stage 2 turbo add", "power"),
        ("How much more torque does a stage 3 clutch hold?", "torque"),
        ("what's the top speed with the titan exhaust", "speed"),
        ("what does the cat-back weigh in kg", "weight"),
        ("how much oil does a 370z take", "volume"),
        ("what time does the booth open", "clock"),
        ("how long until my refund shows up", "duration"),
        ("how often should i change brake fluid", "frequency"),
        ("how many miles do spark plugs last", "distance"),
        ("how much is shipping on a $60 order", "money"),
        ("whats the hourly pay for the warehouse job", "money"),
        ("what tire pressure should i run", "pressure"),
        ("whats the boiling point of dot 5", "temperature"),
        ("how big of a discount do wholesale accounts get", "share"),
        ("how many quarts of oil does it take", "volume"),
        ("how many track days will the pads last", "count"),
        ("how quickly does the gift card email show up", "duration"),
        ("whats the max boost the turbo can handle", "pressure"),
        ("can i pay with apple pay", None),  # "pay" the verb asks for no amount
        ("are two piece rotors lighter? by how much", None),  # a weight, not a price: no kind named
        ("how much do you charge to rebuild dampers", "money"),
        ("what does the warehouse job in reno pay?", "money"),
        ("what do i pay with, card or paypal", None),
        ("how big is the discount on a wholesale account", "share"),
        ("do you ship to australia", None),
        ("can i return coilovers i installed", None),
        ("what tire pressures should i run at the track", "pressure"),
        ("whats the street address of your east coast warehouse", "address"),
        ("what is your mailing address", "address"),
        ("can i change the shipping address on my order", None),  # asks to do, not for an address
        ("do you ship to my address in canada", None),
        ("whats your email address", "email"),
        ("whats your phone number, i'd rather call", "phone"),
        ("part number for the carbon finish intake", "part number"),
        ("what is the SKU of the street sport pads", "part number"),
    ],
)
def test_a_question_asks_for_the_most_specific_kind_it_names(question: str, kind: str | None) -> None:
    found = asked_type(question)
    assert (found.name if found else None) == kind


@pytest.mark.parametrize(
    ("question", "states", "does_not"),
    [
        ("how much power did it make", "With the intake it made 209 whp.", "Brand: Titan Exhaust."),
        ("what time does support open", "Support is open from 9 am to 6 pm.", "Support answers e-mail."),
        ("how long is the warranty", "Every part carries a two year warranty.", "The warranty covers defects."),
        (
            "how long is the warranty",
            "Stratos dampers carry a two-year warranty.",
            "Stratos dampers are rebuilt in house.",
        ),
        ("how much power did it gain", "It gained a 6-whp bump.", "It pulls harder up top."),
        ("how often should dampers be rebuilt", "Rebuild them every 40,000 miles.", "Dampers are rebuilt in house."),
        ("how much does overnight delivery cost", "Overnight delivery is $49.95.", "Overnight ships with UPS."),
        ("how much does the exhaust weigh", "It weighs 9.5 kg.", "It is made of titanium."),
        ("what pressure are the cores tested to", "Cores are tested to 45 psi.", "Cores are bar-and-plate."),
        ("whats the boiling point of dot 4", "Its wet boiling point is 204 °C.", "DOT 4 suits track use."),
        ("how big of a discount do shops get", "Workshops get 15 % off.", "Workshops can apply."),
        ("how many track days will pads last", "About six track days.", "Track pads squeal when cold."),
        ("how long has the shop been around", "Selling parts since 2018.", "A team of racers."),
        (
            "whats the address of the reno warehouse",
            "The Main Warehouse is at 1450 Industrial Way, Reno, Nevada.",
            "We are hiring a warehouse associate in Reno.",
        ),
        ("whats your email address", "Write to support@apex-parts.example.", "Support answers e-mail within a day."),
        ("whats your phone number", "Call us on 775-555-0142.", "We answer within one business day."),
        ("part number for the carbon intake", "Carbon | APX-AI-0100-CARB | $429.00", "A twin-disc clutch, 2-piece."),
    ],
)
def test_a_sentence_states_the_kind_asked_for_or_does_not(question: str, states: str, does_not: str) -> None:
    kind = asked_type(question)
    assert kind is not None
    assert kind.stated_in(states)
    assert not kind.stated_in(does_not)
