"""What the demo store is made of: id ranges, product types, vendors, fitments, names, cities, tax
rates, its two locations, and the shape of its demand (weekday, hour, basket size, the signals
planted), as fixed tables the builder draws from."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from storelink.fakes.data.entities import Address, Location

# Id bases: Shopify ids are large integers; these keep each kind in its own, realistic range.
_PRODUCT_ID0 = 8_512_000_000_000
_VARIANT_ID0 = 45_310_000_000_000
_ITEM_ID0 = 47_420_000_000_000
_CUSTOMER_ID0 = 7_390_000_000_000
_ORDER_ID0 = 6_120_000_000_000
_LINE_ID0 = 15_880_000_000_000
_REFUND_ID0 = 981_000_000_000


@dataclass(frozen=True, slots=True)
class _TypeSpec:
    """How one product type looks and sells."""

    name: str
    code: str
    count: int
    price: tuple[int, int]
    options: tuple[tuple[str, float], ...]  # variant title and price factor
    lines: tuple[str, ...]
    vendors: tuple[str, ...]
    popularity: float
    max_quantity: int
    universal: bool = False  # consumables: no vehicle fitment in the title


_VENDORS: Mapping[str, str] = {
    "IronClad Brakes": "ICB",
    "Stopline Performance": "SLP",
    "Apex Racing": "APX",
    "Stratos Suspension": "STS",
    "Redline Dynamics": "RLD",
    "Cyclone Intakes": "CYI",
    "Titan Exhaust": "TTX",
    "Vortex Boost": "VXB",
    "Coldfront Cooling": "CFC",
    "Ignis Ignition": "IGN",
    "PureFlow Filtration": "PFF",
    "Gripline Clutch": "GLC",
    "Torque Forge": "TQF",
    "VelocityWorks": "VLW",
    "Summit Lubricants": "SML",
}

_BRAKE_LINES = ("Street Sport", "Track Day", "Ceramic Comfort", "Endurance Race")

_TYPES: tuple[_TypeSpec, ...] = (
    _TypeSpec("Brake Pads", "BP", 36, (49, 189), (("Front", 1.0), ("Rear", 0.85)), _BRAKE_LINES,
              ("IronClad Brakes", "Stopline Performance", "Apex Racing"), 3.0, 2),
    _TypeSpec("Brake Rotors", "BR", 30, (89, 349), (("Front", 1.0), ("Rear", 0.9)), _BRAKE_LINES,
              ("IronClad Brakes", "Stopline Performance", "Apex Racing"), 1.6, 2),
    _TypeSpec("Coilovers", "CO", 24, (899, 3199), (("Street", 1.0), ("Track", 1.25)),
              ("Street Comfort", "Sport", "Clubsport", "Pro Series"),
              ("Stratos Suspension", "Redline Dynamics"), 0.35, 1),
    _TypeSpec("Air Intakes", "AI", 24, (179, 549), (("Polished", 1.0), ("Black", 1.05), ("Carbon", 1.4)),
              ("Cold Air", "Short Ram", "Carbon Series"),
              ("Cyclone Intakes", "PureFlow Filtration", "VelocityWorks", "Apex Racing"), 0.9, 1),
    _TypeSpec("Exhaust Systems", "EX", 26, (449, 2199),
              (("Resonated", 1.0), ("Non-Resonated", 0.95), ("Titanium Tips", 1.15)),
              ("Cat-Back", "Axle-Back", "Turbo-Back"), ("Titan Exhaust", "Torque Forge"), 0.45, 1),
    _TypeSpec("Turbochargers", "TC", 14, (999, 3499), (("Journal Bearing", 1.0), ("Ball Bearing", 1.3)),
              ("Stage 2 Upgrade", "Big Turbo", "Drop-In"), ("Vortex Boost", "Torque Forge"), 0.15, 1),
    _TypeSpec("Intercoolers", "IC", 16, (349, 1399), (("Default Title", 1.0),),
              ("Front Mount", "Top Mount", "Race Core"),
              ("Vortex Boost", "Coldfront Cooling", "VelocityWorks"), 0.3, 1),
    _TypeSpec("Spark Plugs", "SP", 22, (9, 24), (("Set of 4", 4.0), ("Set of 6", 6.0), ("Set of 8", 8.0)),
              ("Iridium Racing", "Platinum Street", "Cold Range"), ("Ignis Ignition", "Apex Racing"), 2.6, 3),
    _TypeSpec("Oil Filters", "OF", 20, (9, 24), (("Single", 1.0), ("6-Pack", 5.4)),
              ("High Flow", "Race", "Long Life"),
              ("PureFlow Filtration", "Summit Lubricants", "Apex Racing"), 2.8, 4),
    _TypeSpec("Clutch Kits", "CK", 22, (349, 1499),
              (("Stage 1", 1.0), ("Stage 2", 1.3), ("Stage 3", 1.7), ("Stage 4", 2.1)),
              ("Street", "Sport", "Twin Disc"), ("Gripline Clutch", "Redline Dynamics"), 0.4, 1),
    _TypeSpec("Ignition Coils", "IG", 16, (59, 289), (("Single", 1.0), ("Set of 4", 3.6)),
              ("Iridium Racing", "Platinum Street", "High Output"), ("Ignis Ignition",), 0.9, 2),
    _TypeSpec("Fuel Injectors", "FI", 14, (249, 899),
              (("550cc", 1.0), ("850cc", 1.1), ("1050cc", 1.2), ("1300cc", 1.3)),
              ("Flow Matched", "E85 Ready"), ("Torque Forge", "VelocityWorks"), 0.25, 1),
    _TypeSpec("Sway Bars", "SB", 16, (199, 599), (("Front", 1.0), ("Rear", 0.9), ("Front & Rear Kit", 1.8)),
              ("Adjustable", "Hollow Race"),
              ("Stratos Suspension", "Redline Dynamics", "Apex Racing"), 0.5, 1),
    _TypeSpec("Engine Oil", "EO", 12, (12, 19), (("1 Quart", 1.0), ("5 Quart Jug", 4.5)),
              ("0W-20 Full Synthetic", "5W-30 Full Synthetic", "5W-40 Full Synthetic", "10W-60 Racing"),
              ("Summit Lubricants",), 2.0, 4, universal=True),
    _TypeSpec("Brake Fluid", "BF", 8, (15, 34), (("500 ml", 1.0), ("1 L", 1.8)),
              ("DOT 4 Racing", "DOT 5.1 High Temp"), ("IronClad Brakes", "Summit Lubricants"), 1.1, 3,
              universal=True),
)  # fmt: skip

_FITMENTS = (
    "Honda Civic Type R (FK8)", "Subaru WRX STI", "Toyota GR86 / Subaru BRZ", "Ford Mustang GT (S550)",
    "VW Golf R (Mk7)", "Nissan 370Z", "Mazda MX-5 Miata (ND)", "Toyota GR Supra (A90)", "BMW M3 (F80)",
    "Chevrolet Camaro SS", "Ford Focus RS", "Mitsubishi Lancer Evolution X", "VW Golf GTI (Mk8)",
    "Hyundai Veloster N", "Toyota GR Corolla",
)  # fmt: skip

_SERIES = ("Street Series", "Track Series", "Euro Series", "Endurance Series")  # consumables fit any car

_FIRST_NAMES = (
    "James", "Maria", "Robert", "Linda", "Michael", "Sarah", "David", "Jessica", "Carlos", "Emily", "Daniel",
    "Ashley", "Kevin", "Megan", "Brian", "Laura", "Jason", "Rachel", "Tyler", "Nicole", "Ryan", "Hannah",
    "Marcus", "Olivia", "Ethan", "Sofia", "Logan", "Chloe", "Noah", "Grace", "Liam", "Ava", "Mateo", "Mia",
    "Hiroshi", "Yuki", "Priya", "Arjun", "Lukas", "Anna", "Oliver", "Isla", "Jack", "Amelia", "Lucas", "Zoe",
    "Andre", "Keisha", "Wei", "Mei", "Diego", "Valentina", "Connor", "Brooke", "Trevor", "Jade", "Dylan",
    "Kayla", "Austin", "Paige",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Lopez",
    "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen",
    "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Tanaka", "Sato", "Patel", "Schmidt", "Muller", "Fischer", "Evans", "Turner", "Murphy",
    "Cooper", "Reed", "Brooks", "Kelly", "Sanders", "Price", "Bennett", "Wood",
)  # fmt: skip

# (city, province, zip, phone area code) per country; the country weight is the share of customers.
_CITIES: Mapping[str, tuple[float, tuple[tuple[str, str | None, str, str], ...]]] = {
    "US": (0.78, (
        ("Los Angeles", "CA", "90012", "213"), ("San Diego", "CA", "92101", "619"),
        ("Phoenix", "AZ", "85004", "602"), ("Dallas", "TX", "75201", "214"),
        ("Houston", "TX", "77002", "713"),
        ("Austin", "TX", "78701", "512"), ("Denver", "CO", "80202", "303"), ("Seattle", "WA", "98101", "206"),
        ("Portland", "OR", "97204", "503"), ("Chicago", "IL", "60601", "312"),
        ("Detroit", "MI", "48226", "313"), ("Atlanta", "GA", "30303", "404"), ("Miami", "FL", "33130", "305"),
        ("Orlando", "FL", "32801", "407"), ("Charlotte", "NC", "28202", "704"),
        ("New York", "NY", "10007", "212"), ("Boston", "MA", "02108", "617"),
        ("Philadelphia", "PA", "19107", "215"), ("Las Vegas", "NV", "89101", "702"),
        ("Salt Lake City", "UT", "84111", "801"),
    )),
    "CA": (0.09, (
        ("Toronto", "ON", "M5H 2N2", "416"), ("Vancouver", "BC", "V6B 1A1", "604"),
        ("Calgary", "AB", "T2P 1J9", "403"), ("Montreal", "QC", "H2Y 1C6", "514"),
    )),
    "GB": (0.06, (("London", None, "EC1A 1BB", ""), ("Manchester", None, "M1 1AE", ""),
                  ("Birmingham", None, "B1 1AA", ""))),
    "AU": (0.04, (("Sydney", "NSW", "2000", ""), ("Melbourne", "VIC", "3000", ""),
                  ("Brisbane", "QLD", "4000", ""))),
    "DE": (0.03, (("Berlin", None, "10115", ""), ("Munich", None, "80331", ""),
                  ("Stuttgart", None, "70173", ""))),
}  # fmt: skip

_TAX_RATES: Mapping[str, Decimal] = {
    "US": Decimal("0.07"),
    "CA": Decimal("0.13"),
    "GB": Decimal("0.20"),
    "AU": Decimal("0.10"),
    "DE": Decimal("0.19"),
}

_Choice = tuple[tuple[int, ...], tuple[float, ...]]  # values and cumulative weights, for _pick


def _choice(pairs: Iterable[tuple[int, float]]) -> _Choice:
    values, weights = zip(*pairs, strict=True)
    return tuple(values), tuple(itertools.accumulate(weights))


_WEEKDAY_FACTOR = (
    1.2,
    1.1,
    1.0,
    1.0,
    0.95,
    0.75,
    0.85,
)  # Monday first: people order after a weekend of wrenching
# UTC hour weights: US evenings (00-05 UTC) are the busiest, US nights (07-12 UTC) the quietest.
_HOUR = _choice(enumerate((9, 8, 7, 5, 4, 3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9)))
_LINES_PER_ORDER = _choice(((1, 0.55), (2, 0.28), (3, 0.12), (4, 0.05)))
_VARIANT_POSITION = _choice(((0, 6), (1, 3), (2, 2), (3, 1)))  # the first variant sells best

_FAST_MOVERS = 4
_DEAD_STOCK = 10
_RISING = 2
_BRAKE_PAIRS = 6
_IGNITION_PAIRS = 2
_PAIR_RATE = 0.55


_TYPE_BY_NAME: Mapping[str, _TypeSpec] = {spec.name: spec for spec in _TYPES}


def _locations() -> tuple[Location, Location]:
    opened = datetime(2022, 5, 2, 15, 0, tzinfo=UTC)
    return (
        Location(
            71_540_000_001,
            "Main Warehouse",
            "1450 Industrial Way",
            Address("Reno", "NV", "US", "89502"),
            opened,
        ),
        Location(
            71_540_000_002,
            "East Coast Depot",
            "88 Commerce Park Dr",
            Address("Allentown", "PA", "US", "18106"),
            opened + timedelta(days=400),
        ),
    )
