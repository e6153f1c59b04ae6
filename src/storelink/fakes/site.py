"""The demo store's website: a few hundred pages for discovery, ingest and retrieval to work on offline.

It is the storefront of the demo store in :mod:`storelink.fakes.data` ("Apex Performance Parts"):
one page per published product (title, vendor, SKUs and prices from the catalogue), a collection
per product type, a buying-and-installation guide per product type, fitment notes per vehicle,
policies, FAQs, blog posts, and the navigation and boilerplate a real theme wraps them in.

What a crawler must cope with, planted on purpose:

* ``/robots.txt`` disallows ``/cart``, ``/account``, ``/checkout``, ``/search`` and
  ``/pages/internal/``, names the sitemap index, and has a ``Crawl-delay`` when one is set;
* ``/sitemap.xml`` is an index of three sitemaps, one of them gzipped (``.xml.gz``);
* :data:`ORPHAN_PATHS` are in no sitemap and only reachable through links;
* links to disallowed pages (``/cart``, ``/account/login``, ``/pages/internal/staff-pricing``);
* duplicates: collections link products as ``/collections/<type>/products/<handle>`` and with
  ``?variant=``; such pages declare ``<link rel="canonical">`` to ``/products/<handle>``;
* every page has an ``ETag`` and ``Last-Modified`` and answers a matching conditional request
  with 304, so an unchanged site costs only 304s.

Absolute URLs (sitemaps, canonicals) are built from the request's own host, so the same app
serves ``https://www.apexperformanceparts.example`` in-process and a loopback server by name.
Pages change through :meth:`SiteFake.edit_page`, :meth:`SiteFake.delete_page` and
:meth:`SiteFake.add_page` (or ``POST /_fake/site/pages``, ``DELETE /_fake/site/pages?path=``).
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, Product, ProductStatus, demo_store
from storelink.fakes.faults import FaultPlan

__all__ = ["DISALLOWED_PREFIXES", "ORPHAN_PATHS", "SITE_HOST", "SiteFake", "SitePage", "slug"]

SITE_HOST = "www.apexperformanceparts.example"
DISALLOWED_PREFIXES = ("/cart", "/account", "/checkout", "/search", "/pages/internal/")
_SITE_DATE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


@dataclass(frozen=True, slots=True)
class SitePage:
    """One page: its path, title, body (HTML inside ``<article>``) and which sitemap lists it."""

    path: str
    title: str
    body: str
    sitemap: str | None  # "pages", "products", "blog"; None: reachable only through links
    modified: datetime = _SITE_DATE
    canonical: str | None = None  # a path; defaults to the page's own
    section: str = "page"


# -- content --------------------------------------------------------------------------------------
# Each guide: (intro, [(heading, paragraph), ...]). Facts here are what the goldens ask about.

_GUIDES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "Brake Pads": (
        "Brake pads are the cheapest way to change how a car stops. Pick a compound by the temperature it will "
        "see, not by the price.",
        [
            ("Choosing a compound",
             "Street Sport pads work from 0 to 400 °C and are the right choice for daily driving and spirited "
             "back roads. Track Day pads work from 150 to 650 °C: they squeal and dust when cold, so they are for "
             "cars that see a circuit. Ceramic Comfort pads are the quietest and cleanest, for 0 to 350 °C. "
             "Endurance Race pads need heat, working from 200 to 750 °C, and are for race cars only."),
            ("Front and rear",
             "Each variant is one axle set of four pads: buy Front and Rear separately. Match the line front to "
             "rear, or the brake bias changes."),
            ("Bedding in",
             "New pads must be bedded in before hard use, following our bedding-in procedure. Skipping it causes "
             "uneven deposits and vibration that feels like a warped rotor."),
            ("When to replace",
             "Replace pads when the friction material is thinner than 3 mm, or when the wear indicator squeals."),
        ],
    ),
    "Brake Rotors": (
        "Rotors store the heat the pads make. Better rotors resist cracking and keep the pedal consistent.",
        [
            ("One-piece or two-piece",
             "Our Track Day and Endurance Race rotors are two-piece, with an aluminium hat that saves about 1.5 kg "
             "per corner. Street Sport and Ceramic Comfort rotors are one-piece cast iron."),
            ("Pairing with pads",
             "Use pads of the same line as the rotors: the surfaces are machined for that compound. Rotors are "
             "sold per axle, as a pair."),
            ("Minimum thickness",
             "Replace a rotor when it is thinner than the minimum thickness stamped on its hat, or when cracks "
             "reach the outer edge."),
        ],
    ),
    "Coilovers": (
        "Coilovers replace the springs and dampers with one adjustable unit.",
        [
            ("Street or Track",
             "The Street variant uses softer springs for comfort on public roads. The Track variant uses springs "
             "about 40 % stiffer and is for cars that spend time on a circuit."),
            ("Ride height and damping",
             "Every kit has 32 damping settings and threaded bodies for ride height. Do not lower a street car "
             "more than 40 mm, or the suspension runs out of travel."),
            ("After installation",
             "A wheel alignment is required after installing coilovers. Re-check the ride height after 500 "
             "miles, once the springs have settled."),
            ("Service",
             "Dampers should be rebuilt every 50,000 miles, or every two track seasons. We rebuild Stratos and "
             "Redline units in house in about ten business days."),
        ],
    ),
    "Air Intakes": (
        "An intake lets the engine breathe cooler air with less restriction.",
        [
            ("Cold Air or Short Ram",
             "Cold Air intakes move the filter out of the engine bay for cooler air and the largest gain. Short "
             "Ram intakes are shorter, louder and easier to fit."),
            ("Filter care",
             "Clean and re-oil the filter every 15,000 miles. Do not over-oil: excess oil can foul the mass air "
             "flow sensor."),
            ("Finish options",
             "Polished, Black and Carbon variants perform the same; Carbon adds a heat shield."),
        ],
    ),
    "Exhaust Systems": (
        "Exhaust systems change sound first and power second.",
        [
            ("Cat-Back, Axle-Back or Turbo-Back",
             "Axle-Back systems replace only the mufflers. Cat-Back systems replace everything after the catalytic "
             "converter and are road legal. Turbo-Back systems replace the downpipe as well and are for "
             "off-road use only."),
            ("How loud",
             "Resonated systems measure about 92 dB at 4,000 rpm; Non-Resonated systems about 98 dB. Many track "
             "days have a 95 dB limit, so choose Resonated if you run at those tracks."),
            ("Titanium tips",
             "The Titanium Tips variant is the resonated system with burnt titanium tips."),
        ],
    ),
    "Turbochargers": (
        "Turbocharger upgrades make the largest power gains and need the most care.",
        [
            ("Journal or ball bearing",
             "Ball Bearing turbos spool about 15 % faster than Journal Bearing turbos of the same size."),
            ("A tune is required",
             "Every turbo upgrade requires an engine tune and, above stage 2, larger fuel injectors."),
            ("Break-in",
             "For the first 300 miles, keep boost below half of the target and let the engine idle for 30 "
             "seconds before switching off."),
            ("Installation",
             "The turbocharger warranty requires a receipt from a professional installer."),
        ],
    ),
    "Intercoolers": (
        "An intercooler cools the charge air so the engine makes power without knock.",
        [
            ("Front Mount or Top Mount",
             "Front Mount intercoolers have the largest cores and the best cooling. Top Mount intercoolers keep "
             "the factory layout and the shortest piping."),
            ("Core",
             "All cores are bar-and-plate and pressure tested to 45 psi before they ship."),
        ],
    ),
    "Spark Plugs": (
        "Spark plugs are cheap insurance for a modified engine.",
        [
            ("Heat range",
             "Iridium Racing plugs are one step colder than stock. Cold Range plugs are two steps colder and are "
             "for engines making more than 30 % over stock power."),
            ("Gap",
             "Plugs arrive gapped at 0.028 in (0.7 mm) for boosted engines. Check the gap before installing."),
            ("Interval",
             "Replace spark plugs every 20,000 miles on boosted engines and every 30,000 miles otherwise."),
        ],
    ),
    "Oil Filters": (
        "Oil filters keep the bearings alive.",
        [
            ("High Flow, Race or Long Life",
             "High Flow filters suit modified street cars. Race filters have a stronger can for high oil "
             "pressure. Long Life filters are rated for 10,000-mile intervals."),
            ("Change interval",
             "On track cars change the oil and filter every 5,000 miles or after every two track days, "
             "whichever comes first."),
        ],
    ),
    "Clutch Kits": (
        "A clutch upgrade is needed once an engine makes more torque than the stock clutch holds.",
        [
            ("Stages",
             "Stage 1 holds about 20 % more torque than stock and drives like the original. Stage 2 holds about "
             "50 % more. Stage 3 uses a puck disc and holds about 80 % more. Stage 4 is a twin-disc kit that "
             "holds about 120 % more and is for race cars."),
            ("Break-in",
             "Drive 500 miles without launches or full-throttle shifts so the disc beds in."),
            ("Flywheel",
             "Resurface or replace the flywheel when installing any clutch kit."),
        ],
    ),
    "Ignition Coils": (
        "Ignition coils must keep up with higher cylinder pressure.",
        [
            ("High Output coils",
             "High Output coils deliver a stronger spark for boosted engines and are recommended above 20 psi."),
            ("Installation",
             "Replace coils as a set and apply dielectric grease to the boots. Installed coils cannot be "
             "returned."),
        ],
    ),
    "Fuel Injectors": (
        "Injectors must flow enough fuel for the power you make.",
        [
            ("Sizing",
             "As a rule, 550cc injectors support about 450 whp on a four-cylinder engine on gasoline. E85 needs "
             "about 30 % more flow, so choose an E85 Ready set one size larger."),
            ("Flow matching",
             "Flow Matched sets are matched within 1 % of each other."),
            ("Installation",
             "New injectors need new O-rings and a tune with the injector data we supply. Installed injectors "
             "cannot be returned."),
        ],
    ),
    "Sway Bars": (
        "Sway bars control body roll and tune the balance of the car.",
        [
            ("Balance",
             "A stiffer front bar adds understeer; a stiffer rear bar adds oversteer. Adjustable bars have three "
             "positions."),
            ("Installation",
             "Re-torque the end links after the first 100 miles."),
        ],
    ),
    "Engine Oil": (
        "Engine oil is the cheapest performance part.",
        [
            ("Viscosity",
             "Use 0W-20 or 5W-30 for daily driving where the manufacturer specifies it, 5W-40 for turbocharged "
             "engines, and 10W-60 Racing for track use on engines that specify it."),
            ("Sizes",
             "Every grade comes in 1 Quart bottles and 5 Quart jugs."),
        ],
    ),
    "Brake Fluid": (
        "Brake fluid boils before pads fade on most track cars.",
        [
            ("Boiling points",
             "DOT 4 Racing has a dry boiling point of 312 °C (594 °F) and a wet boiling point of 204 °C. DOT 5.1 "
             "High Temp has a dry boiling point of 275 °C and a wet boiling point of 190 °C."),
            ("Mixing",
             "DOT 4 and DOT 5.1 are glycol based and can be mixed. Never mix them with DOT 5, which is silicone "
             "based."),
            ("Flushing",
             "Flush the brake fluid every 12 months, and before every track season."),
        ],
    ),
}  # fmt: skip

_VEHICLE_NOTES: dict[str, str] = {
    "Honda Civic Type R (FK8)": "Front pads fit the factory Brembo four-piston calipers. Coilovers for the FK8 "
    "include a plug to delete the adaptive damper warning.",
    "Subaru WRX STI": "Turbo-Back exhausts for the STI need the factory heat shields moved by about 10 mm.",
    "Toyota GR86 / Subaru BRZ": "Parts listed for the GR86 also fit the Subaru BRZ of the same generation.",
    "Ford Mustang GT (S550)": "Exhaust systems fit both the fastback and the convertible S550.",
    "VW Golf R (Mk7)": "Intercoolers for the Golf R need the factory bumper trimmed by 5 mm at the lower grille.",
    "Nissan 370Z": "Clutch kits for the 370Z include a new concentric slave cylinder.",
    "Mazda MX-5 Miata (ND)": "Coilovers for the ND keep the factory top mounts.",
    "Toyota GR Supra (A90)": "Intakes for the A90 keep the factory mass air flow sensor housing.",
    "BMW M3 (F80)": "Front rotors for the F80 are for cars with steel brakes, not carbon ceramics.",
    "Chevrolet Camaro SS": "Axle-Back exhausts for the Camaro SS keep the factory valves working.",
    "Ford Focus RS": "Sway bars for the Focus RS need the rear subframe bolts re-torqued to 100 Nm.",
    "Mitsubishi Lancer Evolution X": "Fuel injectors for the Evo X are the side-feed type.",
    "VW Golf GTI (Mk8)": "Intakes for the GTI Mk8 fit cars built from model year 2022.",
    "Hyundai Veloster N": "Brake pads for the Veloster N fit cars with and without the N Performance Package.",
    "Toyota GR Corolla": "Turbochargers for the GR Corolla bolt to the factory exhaust manifold.",
}

_POLICIES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "shipping": ("Shipping policy", [
        ("Free shipping", "Standard shipping is free on US orders over $99. Below that, standard shipping costs "
         "$9.95."),
        ("Dispatch", "Orders placed before 2 pm Eastern time on a business day ship the same day, from our Main "
         "Warehouse in Reno, Nevada, or our East Coast Depot in Allentown, Pennsylvania, whichever is closer."),
        ("Delivery times", "Standard delivery takes 3 to 5 business days. Expedited delivery takes 2 business days "
         "and costs $24.95. Overnight delivery costs $49.95 and must be ordered before noon Eastern time."),
        ("International", "We ship to Canada, the United Kingdom, Australia and Germany with DHL Express. Duties "
         "and import taxes are paid by the customer on delivery."),
        ("Oversize items", "Coilovers, exhaust systems and turbochargers ship as oversize freight and cannot be "
         "delivered to PO boxes."),
    ]),
    "returns": ("Returns and refunds", [
        ("Return window", "You can return unused parts in their original packaging within 30 days of delivery."),
        ("How to return", "Email support with your order number to get a return authorisation (RMA) number, and "
         "write the RMA number on the box. Returns without an RMA number are refused."),
        ("Refunds", "Refunds go to the original payment method within 5 business days of the return reaching our "
         "warehouse."),
        ("Restocking fee", "Special-order items carry a 15 % restocking fee."),
        ("Non-returnable items", "Installed electrical parts, such as ignition coils and fuel injectors, cannot be "
         "returned. Opened engine oil and brake fluid cannot be returned."),
        ("Return shipping", "The customer pays return shipping, unless we sent the wrong or a damaged part."),
    ]),
    "warranty": ("Warranty", [
        ("Standard warranty", "Every part carries a one-year limited warranty against defects in materials and "
         "workmanship."),
        ("Extended warranty", "Stratos Suspension coilovers and Titan Exhaust systems carry a two-year warranty."),
        ("Turbochargers", "The turbocharger warranty requires a receipt from a professional installer."),
        ("Competition use", "Parts used in competition are not covered, except parts of the Track Day and "
         "Endurance Race lines."),
        ("Claims", "To make a claim, email support with your order number and photos of the part."),
    ]),
    "privacy": ("Privacy policy", [
        ("What we collect", "We collect your name, addresses, e-mail and order history to fulfil orders."),
        ("Marketing", "We send marketing e-mail only to customers who opt in, and every e-mail has an unsubscribe "
         "link."),
        ("Payment data", "Card details are handled by our payment processor and never stored by us."),
    ]),
    "terms": ("Terms of service", [
        ("Orders", "An order is accepted when it ships. We may cancel orders with pricing errors."),
        ("Off-road parts", "Parts marked for off-road use are not legal for use on public roads in every state; "
         "the buyer is responsible for using them lawfully."),
    ]),
}  # fmt: skip

_FAQS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "orders": ("Orders and payment", [
        ("Can I change or cancel my order?", "Yes, within one hour of placing it. After that the order may "
         "already be picked; email support and we will try."),
        ("Do you price match?", "We match the price of an identical part from an authorised US dealer. We do not "
         "match marketplace sellers or auction sites."),
        ("Do you offer financing?", "Yes. Shop Pay Installments is available on orders from $150 to $5,000."),
        ("Can I use more than one discount code?", "No, one discount code per order."),
        ("Do you sell gift cards?", "Yes, digital gift cards from $25 to $500; see the gift cards page."),
        ("Which payment methods do you accept?", "Visa, Mastercard, American Express, Discover, PayPal, Shop Pay "
         "and Apple Pay."),
    ]),
    "shipping": ("Shipping questions", [
        ("How long does shipping take?", "Standard delivery takes 3 to 5 business days; expedited takes 2."),
        ("Do you ship internationally?", "We ship to Canada, the United Kingdom, Australia and Germany."),
        ("Where do you ship from?", "From Reno, Nevada and Allentown, Pennsylvania."),
        ("Can I pick up my order?", "Yes, from the Main Warehouse in Reno on weekdays from 9 am to 4 pm Pacific "
         "time. Choose local pickup at checkout."),
        ("How do I track my order?", "The shipping confirmation e-mail has a tracking link."),
    ]),
    "returns": ("Returns questions", [
        ("How long do I have to return a part?", "30 days from delivery, unused and in the original packaging."),
        ("When will I get my refund?", "Within 5 business days of the return reaching our warehouse."),
        ("Can I return an installed part?", "No. Installed parts can only be claimed under warranty."),
        ("Do you charge a restocking fee?", "Only on special-order items: 15 %."),
    ]),
    "products": ("Product questions", [
        ("Are your parts new?", "Yes. Every part is new and comes from the manufacturer or an authorised "
         "distributor."),
        ("Will this part fit my car?", "Each product page names the car it fits. Our fitment notes list every "
         "part per vehicle. If in doubt, email support with your VIN."),
        ("Are your exhausts road legal?", "Cat-Back and Axle-Back systems are road legal. Turbo-Back systems are "
         "for off-road use only."),
        ("Do I need a tune?", "A tune is required for turbochargers and larger fuel injectors, and recommended "
         "for intakes and exhausts on turbocharged cars."),
    ]),
    "installation": ("Installation questions", [
        ("Do you install parts?", "No, but we work with partner installers in most US states; email support for "
         "one near you."),
        ("Where can I find torque specifications?", "See our torque specifications page for wheels, calipers and "
         "suspension."),
        ("Do new brake pads need bedding in?", "Yes. Follow our bedding-in procedure before any hard use."),
    ]),
}  # fmt: skip

_BLOG: list[tuple[str, str, date, list[tuple[str, str]]]] = [
    ("Track day prep: the night before", "track-day-prep", date(2026, 4, 2), [
        ("Fluids", "Bleed the brakes with fresh DOT 4 Racing fluid and check the oil level."),
        ("Checklist", "Print our track day checklist and bring a torque wrench."),
    ]),
    ("Black Friday 2026: 20 % off sitewide", "black-friday-2026", date(2026, 11, 20), [
        ("The deal", "From November 27 to December 1, 2026, take 20 % off everything with code BF2026. The code "
         "cannot be combined with other codes and does not apply to gift cards."),
    ]),
    ("Dyno day results: intake and exhaust on the GR86", "dyno-day-gr86", date(2026, 6, 14), [
        ("What we tested", "A Cyclone Cold Air intake and a Titan Cat-Back exhaust on a stock GR86."),
        ("Results", "Full numbers are on our dyno results page."),
    ]),
    ("Winter storage for your project car", "winter-storage", date(2025, 11, 3), [
        ("Before storage", "Change the oil, fill the tank and add fuel stabiliser, and inflate the tyres 5 psi "
         "above normal."),
    ]),
    ("DOT 4 or DOT 5.1: which brake fluid?", "dot4-vs-dot51", date(2026, 3, 10), [
        ("The short answer", "For track use, DOT 4 Racing, for its higher dry boiling point."),
    ]),
    ("Why your new pads squeal", "pad-squeal", date(2026, 2, 18), [
        ("Cold track pads", "Track Day pads squeal below their working temperature; that is normal."),
    ]),
    ("Meet the team at SEMA 2026", "sema-2026", date(2026, 10, 28), [
        ("Where", "Find us at booth 24117 in the Central Hall, November 3 to 6, 2026."),
    ]),
    ("Coilover setup basics", "coilover-setup", date(2025, 8, 21), [
        ("Start from our baseline", "Start at damping setting 16 of 32 front and rear, then adjust one end at a "
         "time."),
    ]),
    ("New: Vortex Boost Ball Bearing turbos", "vortex-ball-bearing", date(2026, 7, 7), [
        ("What is new", "Vortex Boost Ball Bearing turbos are now in stock for eight cars."),
    ]),
    ("How we pick the parts we sell", "how-we-pick", date(2025, 5, 5), [
        ("Testing", "Every product line is tested on our shop cars before we list it."),
    ]),
]  # fmt: skip

# Orphan pages: in no sitemap; linked from the pages named in their comments.
_ORPHANS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "/pages/bedding-in-procedure": ("Brake pad bedding-in procedure", [  # brake pad guide, installation FAQ
        ("Procedure", "Make ten moderate stops from 60 mph to 10 mph without coming to a full stop, then drive "
         "for five minutes without using the brakes so they cool. Do not hold the brake pedal at a standstill "
         "while the brakes are hot."),
    ]),
    "/pages/torque-specs": ("Torque specifications", [  # installation FAQ
        ("Wheels", "Torque lug nuts to 80 ft-lb (108 Nm) on most cars in our fitment list; BMW wheel bolts to "
         "88 ft-lb (120 Nm)."),
        ("Calipers", "Torque front caliper bracket bolts to 80 ft-lb and re-check after the first drive."),
    ]),
    "/pages/track-day-checklist": ("Track day checklist", [  # track-day-prep post
        ("Checklist", "Helmet, torque wrench, tyre pressure gauge, one litre of brake fluid, duct tape, and the "
         "tech inspection form."),
    ]),
    "/pages/dyno-results": ("Dyno results", [  # dyno-day post
        ("GR86", "The stock GR86 made 203 whp. With the Cyclone Cold Air intake it made 209 whp, and with the "
         "Titan Cat-Back exhaust added it made 214 whp."),
    ]),
    "/pages/gift-cards": ("Gift cards", [  # orders FAQ
        ("Gift cards", "Digital gift cards from $25 to $500 arrive by e-mail and never expire."),
    ]),
    "/pages/wholesale": ("Wholesale accounts", [  # footer
        ("Who can apply", "Workshops and race teams with a resale certificate can apply for wholesale pricing by "
         "emailing support with their business details."),
    ]),
    "/pages/careers": ("Careers", [  # about page
        ("Open roles", "We are hiring a warehouse associate in Reno and a parts specialist in Allentown."),
    ]),
    "/pages/legacy-fitment-2019": ("Legacy fitment notes (2019 models)", [  # fitment index
        ("2019 models", "Parts for 2019 models of the Subaru WRX STI fit 2015 to 2021 cars."),
    ]),
}  # fmt: skip

ORPHAN_PATHS = tuple(_ORPHANS)

_ABOUT = [
    ("Who we are", "Apex Performance Parts is a team of racers and mechanics selling performance parts since 2018."),
    (
        "Our warehouses",
        "We ship from the Main Warehouse at 1450 Industrial Way, Reno, Nevada, and the East Coast "
        "Depot at 88 Commerce Park Dr, Allentown, Pennsylvania.",
    ),
]


# -- the fake -------------------------------------------------------------------------------------


def _sections(pairs: Iterable[tuple[str, str]], level: int = 2) -> str:
    return "".join(f"<h{level}>{html.escape(h)}</h{level}>\n<p>{html.escape(t)}</p>\n" for h, t in pairs)


class SiteFake(FakeUpstream):
    """The storefront. ``products`` limits how many catalogue products get pages (small sites for tests)."""

    name = "site"
    user_agent_rules: ClassVar[str] = "User-agent: *"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        store: DemoStore | None = None,
        products: int | None = None,
        crawl_delay_s: float | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.store = store or demo_store()
        self.crawl_delay_s = crawl_delay_s
        self.pages: dict[str, SitePage] = {}
        self.conditional: Counter[str] = Counter()  # path -> requests that carried a validator
        self.unconditional: Counter[str] = Counter()  # path -> requests that carried none
        self.not_modified = 0
        self._rendered: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._build(products)

    # -- page set ---------------------------------------------------------------------------------
    def _published(self, limit: int | None) -> list[Product]:
        live = [p for p in self.store.products if p.status is ProductStatus.ACTIVE]
        return live if limit is None else live[:limit]

    def _build(self, limit: int | None) -> None:
        products = self._published(limit)
        types = sorted({p.product_type for p in products})
        shop = self.store.shop
        self._add(SitePage("/", shop.name, self._home(types), "pages", section="home"))
        for t in types:
            members = [p for p in products if p.product_type == t]
            self._add(
                SitePage(f"/collections/{slug(t)}", t, self._collection(t, members), "pages", section="collection")
            )
            intro, parts = _GUIDES[t]
            self._add(
                SitePage(
                    f"/pages/guides/{slug(t)}",
                    f"{t} buying and installation guide",
                    self._guide(t, intro, parts),
                    "pages",
                    section="guide",
                )
            )
        for p in products:
            self._add(SitePage(f"/products/{p.handle}", p.title, self._product(p), "products",
                               modified=max(p.updated_at, _SITE_DATE), section="product"))  # fmt: skip
        vehicles = sorted({p.fitment for p in products if p.fitment in _VEHICLE_NOTES})
        self._add(SitePage("/pages/fitment", "Fitment notes by vehicle", self._fitment_index(vehicles), "pages"))
        for v in vehicles:
            fits = [p for p in products if p.fitment == v]
            self._add(SitePage(f"/pages/fitment/{slug(v)}", f"Fitment notes: {v}", self._fitment(v, fits), "pages",
                               section="fitment"))  # fmt: skip
        for key, (title, parts) in _POLICIES.items():
            self._add(SitePage(f"/policies/{key}", title, _sections(parts), "pages", section="policy"))
        self._add(SitePage("/pages/faq", "Frequently asked questions", self._faq_index(), "pages", section="faq"))
        for key, (title, qas) in _FAQS.items():
            self._add(SitePage(f"/pages/faq/{key}", f"FAQ: {title}", self._faq(key, qas), "pages", section="faq"))
        self._add(SitePage("/blogs/news", "News", self._blog_index(), "blog"))
        for title, handle, day, parts in _BLOG:
            stamp = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
            self._add(SitePage(f"/blogs/news/{handle}", title, self._post(handle, day, parts), "blog", modified=stamp,
                               section="blog"))  # fmt: skip
        self._add(SitePage("/pages/about", "About us", _sections(_ABOUT) + self._about_links(), "pages"))
        self._add(SitePage("/pages/contact", "Contact us", self._contact(), "pages"))
        for path, (title, parts) in _ORPHANS.items():
            self._add(SitePage(path, title, _sections(parts), None, section="orphan"))
        self._add(SitePage("/pages/internal/staff-pricing", "Staff pricing", "<p>Staff discount: 40 %.</p>", None))

    def _add(self, page: SitePage) -> None:
        self.pages[page.path] = page
        self._rendered.clear()

    # -- changing the site (tests and the admin route) --------------------------------------------
    def edit_page(self, path: str, text: str, *, heading: str = "Update") -> None:
        """Append a section to a page; its ETag and Last-Modified change."""
        page = self.pages[path]
        body = page.body + _sections([(heading, text)])
        self._add(replace(page, body=body, modified=datetime.now(UTC).replace(microsecond=0)))

    def delete_page(self, path: str) -> None:
        """Remove a page: it answers 404 and leaves its sitemap."""
        del self.pages[path]
        self._rendered.clear()

    def add_page(self, path: str, title: str, text: str, *, sitemap: str | None = "pages") -> None:
        self._add(SitePage(path, title, _sections([(title, text)]), sitemap, modified=datetime.now(UTC)))

    def sitemap_paths(self) -> set[str]:
        return {p.path for p in self.pages.values() if p.sitemap}

    def orphan_paths(self) -> set[str]:
        return {p.path for p in self.pages.values() if p.sitemap is None and not _disallowed(p.path)}

    # -- routes -----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_fake/site/pages", self._admin_pages, methods=["GET", "POST", "DELETE"]),
            Route("/robots.txt", self._robots, methods=["GET"]),
            Route("/sitemap.xml", self._sitemap_index, methods=["GET"]),
            Route("/sitemap-{name:str}.xml", self._sitemap, methods=["GET"]),
            Route("/sitemap-{name:str}.xml.gz", self._sitemap_gz, methods=["GET"]),
            Route("/collections/{kind:str}/products/{handle:str}", self._collection_product, methods=["GET"]),
            Route("/{path:path}", self._page, methods=["GET", "HEAD"]),
        ]

    async def _admin_pages(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"sitemap": sorted(self.sitemap_paths()), "orphans": sorted(self.orphan_paths())})
        if request.method == "DELETE":
            path = request.query_params.get("path", "")
            if path not in self.pages:
                return JSONResponse({"error": "no such page"}, 404)
            self.delete_page(path)
            return JSONResponse({"deleted": path})
        body = await request.json()
        path = str(body["path"])
        if path in self.pages:
            self.edit_page(path, str(body["text"]))
        else:
            self.add_page(path, str(body.get("title", path)), str(body["text"]))
        return JSONResponse({"ok": True, "path": path})

    def _origin(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def _robots(self, request: Request) -> Response:
        lines = [self.user_agent_rules]
        lines += [f"Disallow: {prefix}" for prefix in DISALLOWED_PREFIXES]
        if self.crawl_delay_s is not None:
            lines.append(f"Crawl-delay: {self.crawl_delay_s:g}")
        lines += ["", f"Sitemap: {self._origin(request)}/sitemap.xml", ""]
        return self._conditional(request, "/robots.txt", "\n".join(lines).encode(), "text/plain", _SITE_DATE)

    def _sitemap_names(self) -> list[tuple[str, bool]]:
        return [("pages", False), ("products", True), ("blog", False)]

    async def _sitemap_index(self, request: Request) -> Response:
        origin = self._origin(request)
        entries = "".join(
            f"<sitemap><loc>{origin}/sitemap-{name}.xml{'.gz' if gz else ''}</loc></sitemap>"
            for name, gz in self._sitemap_names()
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>\n'
        )
        return self._conditional(request, "/sitemap.xml", body.encode(), "application/xml", _SITE_DATE)

    def _urlset(self, request: Request, name: str) -> bytes:
        origin = self._origin(request)
        rows = "".join(
            f"<url><loc>{origin}{html.escape(p.path)}</loc><lastmod>{p.modified.date().isoformat()}</lastmod></url>"
            for p in sorted(self.pages.values(), key=lambda p: p.path)
            if p.sitemap == name
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>\n'
        ).encode()

    async def _sitemap(self, request: Request) -> Response:
        name = request.path_params["name"]
        if (name, False) not in self._sitemap_names():
            return self._not_found()
        return self._conditional(request, f"/sitemap-{name}.xml", self._urlset(request, name), "application/xml",
                                 _SITE_DATE)  # fmt: skip

    async def _sitemap_gz(self, request: Request) -> Response:
        name = request.path_params["name"]
        if (name, True) not in self._sitemap_names():
            return self._not_found()
        body = gzip.compress(self._urlset(request, name), mtime=0)
        return self._conditional(request, f"/sitemap-{name}.xml.gz", body, "application/gzip", _SITE_DATE)

    async def _collection_product(self, request: Request) -> Response:
        """Shopify's duplicate product path: same page, canonical to /products/<handle>."""
        path = f"/products/{request.path_params['handle']}"
        if path not in self.pages:
            return self._not_found()
        return self._serve(request, self.pages[path], request.url.path)

    async def _page(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        if path != "/" and path.endswith("/"):
            path = path.rstrip("/")
        page = self.pages.get(path)
        if page is None:
            return self._not_found()
        return self._serve(request, page, request.url.path)

    def _serve(self, request: Request, page: SitePage, served_path: str) -> Response:
        origin = self._origin(request)
        key = (origin, page.path)
        cached = self._rendered.get(key)
        if cached is None:
            body = self._render(page, origin).encode()
            cached = (body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
            self._rendered[key] = cached
        return self._conditional(request, served_path, cached[0], "text/html; charset=utf-8", page.modified,
                                 etag=cached[1])  # fmt: skip

    def _conditional(
        self, request: Request, path: str, body: bytes, media_type: str, modified: datetime, etag: str | None = None
    ) -> Response:
        etag = etag or '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        last_modified = format_datetime(modified.astimezone(UTC), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "no-cache"}
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if inm or ims:
            self.conditional[path] += 1
        else:
            self.unconditional[path] += 1
        if inm is not None:
            fresh = etag in {tag.strip() for tag in inm.split(",")} or inm.strip() == "*"
        elif ims is not None:
            fresh = _not_after(modified, ims)
        else:
            fresh = False
        if fresh:
            self.not_modified += 1
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    def _not_found(self) -> Response:
        return Response(self._render_missing(), 404, media_type="text/html; charset=utf-8")

    # -- templates --------------------------------------------------------------------------------
    def _render(self, page: SitePage, origin: str) -> str:
        shop = self.store.shop
        canonical = origin + (page.canonical or page.path)
        title = html.escape(page.title)
        nav = "".join(
            f'<li><a href="/collections/{slug(t)}">{html.escape(t)}</a></li>'
            for t in sorted({p.product_type for p in self._published(None)})
        )
        crumbs = f'<nav class="breadcrumbs"><a href="/">Home</a> / <span>{title}</span></nav>'
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | {html.escape(shop.name)}</title>
<link rel="canonical" href="{html.escape(canonical)}">
<meta name="description" content="{title} at {html.escape(shop.name)}: performance parts, guides and fitment notes.">
</head><body>
<header class="site-header"><div class="announcement">Free US shipping on orders over $99 · Ships same day before
2 pm ET</div><a class="logo" href="/">{html.escape(shop.name)}</a>
<nav class="main-nav"><ul>{nav}<li><a href="/pages/guides/brake-pads">Guides</a></li>
<li><a href="/pages/fitment">Fitment</a></li><li><a href="/pages/faq">FAQ</a></li>
<li><a href="/blogs/news">News</a></li><li><a href="/search?q=brakes">Search</a></li>
<li><a href="/account/login">Log in</a></li><li><a href="/cart">Cart (0)</a></li></ul></nav></header>
{crumbs}
<main id="content"><article><h1>{title}</h1>
{page.body}
</article></main>
<aside class="newsletter"><p>Join our newsletter for race-day deals and new arrivals. We never share your
e-mail.</p><form action="/account/subscribe" method="post"><input name="email"><button>Subscribe</button></form>
</aside>
<footer class="site-footer"><ul><li><a href="/policies/shipping">Shipping</a></li>
<li><a href="/policies/returns">Returns</a></li><li><a href="/policies/warranty">Warranty</a></li>
<li><a href="/policies/privacy">Privacy</a></li><li><a href="/policies/terms">Terms</a></li>
<li><a href="/pages/about">About</a></li><li><a href="/pages/contact">Contact</a></li>
<li><a href="/pages/wholesale">Wholesale</a></li></ul>
<p>© 2026 {html.escape(shop.name)}. All rights reserved. Prices in {html.escape(shop.currency)}.</p></footer>
</body></html>
"""

    def _render_missing(self) -> str:
        return "<!DOCTYPE html><html><head><title>Page not found</title></head><body><h1>404</h1></body></html>"

    def _home(self, types: list[str]) -> str:
        cards = "".join(
            f'<li><a href="/collections/{slug(t)}">{html.escape(t)}</a> · '
            f'<a href="/pages/guides/{slug(t)}">{html.escape(t)} guide</a></li>'
            for t in types
        )
        return (
            "<p>Performance parts for track and street, shipped from Reno and Allentown.</p>"
            f"<h2>Shop by category</h2><ul>{cards}</ul>"
            '<h2>Help</h2><ul><li><a href="/pages/faq">FAQ</a></li><li><a href="/pages/fitment">Fitment notes</a>'
            '</li><li><a href="/policies/shipping">Shipping policy</a></li></ul>'
        )

    def _collection(self, kind: str, members: list[Product]) -> str:
        rows = []
        for i, p in enumerate(members):
            href = f"/products/{p.handle}"
            if i % 3 == 1:
                href = f"/collections/{slug(kind)}/products/{p.handle}"
            elif i % 3 == 2:
                href = f"/products/{p.handle}?variant={p.variants[0].id}"
            price = min(v.price for v in p.variants)
            rows.append(f'<li><a href="{html.escape(href)}">{html.escape(p.title)}</a> from ${price}</li>')
        return (
            f"<p>{len(members)} {html.escape(kind.lower())} in stock or on order. Read the "
            f'<a href="/pages/guides/{slug(kind)}">{html.escape(kind)} guide</a> before you choose.</p>'
            f"<ul>{''.join(rows)}</ul>"
        )

    def _guide(self, kind: str, intro: str, parts: list[tuple[str, str]]) -> str:
        body = f"<p>{html.escape(intro)}</p>\n" + _sections(parts)
        if kind == "Brake Pads":
            body += '<p>See the <a href="/pages/bedding-in-procedure">bedding-in procedure</a>.</p>'
        body += (
            f'<p>Browse all <a href="/collections/{slug(kind)}">{html.escape(kind.lower())}</a>, or check the '
            '<a href="/pages/fitment">fitment notes</a> for your car.</p>'
        )
        return body

    def _product(self, p: Product) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(v.title)}</td><td>{html.escape(v.sku)}</td><td>${v.price}</td>"
            f"<td>{'In stock' if v.inventory_quantity > 0 else 'Back-ordered'}</td></tr>"
            for v in p.variants
        )
        fits = (
            f"Fits the {html.escape(p.fitment)}."
            if p.fitment in _VEHICLE_NOTES
            else f"{html.escape(p.fitment)}: fits any car that specifies this grade."
        )
        fit_link = (
            f' See the <a href="/pages/fitment/{slug(p.fitment)}">fitment notes for the {html.escape(p.fitment)}</a>.'
            if p.fitment in _VEHICLE_NOTES
            else ""
        )
        return (
            f"<p>{html.escape(p.description)}</p>"
            f"<h2>Specifications</h2><p>Brand: {html.escape(p.vendor)}. Line: {html.escape(p.line)}. "
            f"Category: {html.escape(p.product_type)}.</p>"
            f"<table><tr><th>Variant</th><th>SKU</th><th>Price</th><th>Availability</th></tr>{rows}</table>"
            f"<h2>Fitment</h2><p>{fits}{fit_link}</p>"
            f'<h2>Installation</h2><p>Read the <a href="/pages/guides/{slug(p.product_type)}">'
            f"{html.escape(p.product_type.lower())} guide</a> before installing. Warranty and returns: see our "
            '<a href="/policies/warranty">warranty</a> and <a href="/policies/returns">returns</a> policies.</p>'
        )

    def _fitment_index(self, vehicles: list[str]) -> str:
        items = "".join(f'<li><a href="/pages/fitment/{slug(v)}">{html.escape(v)}</a></li>' for v in vehicles)
        return (
            f"<p>Parts we carry, by vehicle.</p><ul>{items}</ul>"
            '<p>Older cars: see the <a href="/pages/legacy-fitment-2019">legacy fitment notes</a>.</p>'
        )

    def _fitment(self, vehicle: str, fits: list[Product]) -> str:
        by_type: dict[str, list[Product]] = {}
        for p in fits:
            by_type.setdefault(p.product_type, []).append(p)
        lists = "".join(
            f"<h3>{html.escape(t)}</h3><ul>"
            + "".join(
                f'<li><a href="/products/{p.handle}">{html.escape(p.title)}</a>: {html.escape(p.line)} line by '
                f"{html.escape(p.vendor)}, from ${min(v.price for v in p.variants)}</li>"
                for p in ps
            )
            + "</ul>"
            for t, ps in sorted(by_type.items())
        )
        return f"<h2>Notes</h2><p>{html.escape(_VEHICLE_NOTES[vehicle])}</p><h2>Parts that fit</h2>{lists}"

    def _faq_index(self) -> str:
        items = "".join(f'<li><a href="/pages/faq/{key}">{html.escape(t)}</a></li>' for key, (t, _) in _FAQS.items())
        return f"<p>Answers to the questions we hear most.</p><ul>{items}</ul>"

    def _faq(self, key: str, qas: list[tuple[str, str]]) -> str:
        body = _sections(qas, level=3)
        if key == "installation":
            body += (
                '<p>Links: <a href="/pages/torque-specs">torque specifications</a>, '
                '<a href="/pages/bedding-in-procedure">bedding-in procedure</a>.</p>'
            )
        if key == "orders":
            body += '<p>See <a href="/pages/gift-cards">gift cards</a>.</p>'
        return body

    def _blog_index(self) -> str:
        items = "".join(
            f'<li><a href="/blogs/news/{handle}">{html.escape(title)}</a> ({day.isoformat()})</li>'
            for title, handle, day, _ in _BLOG
        )
        return f"<ul>{items}</ul>"

    def _post(self, handle: str, day: date, parts: list[tuple[str, str]]) -> str:
        body = f"<p>Posted {day.isoformat()}.</p>" + _sections(parts)
        if handle == "track-day-prep":
            body += '<p>Get the <a href="/pages/track-day-checklist">track day checklist</a>.</p>'
        if handle == "dyno-day-gr86":
            body += '<p>See the <a href="/pages/dyno-results">dyno results</a>.</p>'
        return body

    def _about_links(self) -> str:
        return '<p>Work with us: <a href="/pages/careers">careers</a>.</p>'

    def _contact(self) -> str:
        shop = self.store.shop
        return _sections(
            [
                ("E-mail", f"Email {shop.email}; we answer within one business day."),
                ("Hours", "Support is open Monday to Friday, 9 am to 6 pm Eastern time."),
            ]
        )


def _disallowed(path: str) -> bool:
    return path.startswith(DISALLOWED_PREFIXES)


def _not_after(modified: datetime, header: str) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    return modified.replace(microsecond=0) <= since
