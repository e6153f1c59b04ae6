"""The demo store's mailbox, as Zoho Mail would hold it (the data behind :mod:`storelink.fakes.zoho`).

The account is the store's (``support@…``, alias ``orders@…``). Its mail is built from
:func:`~storelink.fakes.data.demo_store`, deterministically: customers asking where their orders
are, about missing items, refunds, wrong parts, installation, fitment and stock, the store's
replies in Sent, suppliers confirming purchase orders for the SKUs with stock incoming, and a
little spam. Every order number, SKU, product and address is a real one of the demo store.
Messages from the last three days are unread (and a few older ones).
"""

from __future__ import annotations

import datetime as dt
import html
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from storelink.fakes.data import DemoStore, FulfillmentStatus, Order, ProductStatus, demo_store

__all__ = ["ACCOUNT_ID", "ALIAS", "FOLDERS", "MailMessage", "build_mailbox", "folder_id", "ms"]

ACCOUNT_ID = "7736810000000008002"
ALIAS = "orders@apexperformanceparts.example"

# (id, name, type)
FOLDERS: tuple[tuple[str, str, str], ...] = (
    ("3881227000000008014", "Inbox", "Inbox"),
    ("3881227000000008016", "Drafts", "Drafts"),
    ("3881227000000008018", "Templates", "Templates"),
    ("3881227000000008020", "Snoozed", "Snoozed"),
    ("3881227000000008022", "Sent", "Sent"),
    ("3881227000000008024", "Spam", "Spam"),
    ("3881227000000008026", "Trash", "Trash"),
    ("3881227000000008028", "Outbox", "Outbox"),
    ("3881227000000008101", "Suppliers", "Normal"),
)
_FOLDER = {name: folder_id for folder_id, name, _ in FOLDERS}
_TAGS = re.compile(r"<[^>]*>")
_INLINE_TAGS = re.compile(r"</?(?:a|b|i|em|strong|span)\b[^>]*>", re.IGNORECASE)


# -- the mailbox ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MailMessage:
    message_id: str
    folder_id: str
    thread_id: str
    subject: str
    sender: str
    from_address: str
    to_address: str
    received_ms: int
    html: str
    unread: bool
    cc_address: str = ""
    has_attachment: bool = False
    priority: int = 3

    @property
    def text(self) -> str:
        inline_gone = _INLINE_TAGS.sub("", self.html)
        return " ".join(html.unescape(_TAGS.sub(" ", inline_gone)).split())

    def list_json(self) -> dict[str, Any]:
        """The list/search item, typed as Zoho types it: numbers and flags as strings."""
        return {
            "messageId": self.message_id,
            "folderId": self.folder_id,
            "threadId": self.thread_id,
            "subject": self.subject,
            "summary": self.text[:100],
            "sender": self.sender,
            "fromAddress": self.from_address,
            "toAddress": self.to_address,
            "ccAddress": self.cc_address or "Not Provided",  # Zoho's listings never leave it empty
            "receivedTime": str(self.received_ms),
            "sentDateInGMT": str(self.received_ms - 1000),
            "size": str(len(self.html) + 900),
            "hasAttachment": "1" if self.has_attachment else "0",
            "hasInline": "false",
            "status": "0" if self.unread else "1",
            "flagid": "flag_not_set",
            "priority": str(self.priority),
            "calendarType": 0,
        }


def ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def _quote(name: str, address: str) -> str:
    return f'"{name}"<{address}>'


def _lines_html(order: Order) -> str:
    items = "".join(
        f"<li>{html.escape(li.title)} ({html.escape(li.variant_title)}, SKU {li.sku}) &times; {li.quantity}</li>"
        for li in order.line_items
    )
    return f"<ul>{items}</ul>"


class _Builder:
    def __init__(self, store: DemoStore) -> None:
        self.store = store
        self.rng = random.Random(store.seed ^ 0x2040)
        self.shop = store.shop
        self.messages: list[MailMessage] = []

    def _id(self, when_ms: int) -> str:
        return f"{when_ms}{len(self.messages):06d}"

    def add(
        self,
        *,
        folder: str,
        subject: str,
        sender: str,
        address: str,
        when: dt.datetime,
        body: str,
        to: str | None = None,
        thread: str | None = None,
        attachment: bool = False,
    ) -> MailMessage:
        if when > self.store.as_of:  # a reply cannot come from the future: it came in today
            when = self.store.as_of - dt.timedelta(minutes=self.rng.randint(5, 600))
        received = ms(when)
        message_id = self._id(received)
        recent = self.store.as_of - when < dt.timedelta(days=3)
        message = MailMessage(
            message_id=message_id,
            folder_id=_FOLDER[folder],
            thread_id=thread or message_id,
            subject=subject,
            sender=sender,
            from_address=address,
            to_address=to or _quote(self.shop.name, self.shop.email),
            received_ms=received,
            html=f"<div>{body}</div>",
            unread=folder in ("Inbox", "Suppliers") and (recent or self.rng.random() < 0.15),
            has_attachment=attachment,
        )
        self.messages.append(message)
        return message

    def _who(self, order: Order) -> str:
        customer = self.store.customer(order.customer_id) if order.customer_id else None
        if customer is not None:
            return customer.display_name
        return order.email.split("@")[0].replace(".", " ").title()

    def _after(self, order: Order, hours: tuple[int, int]) -> dt.datetime:
        return order.created_at + dt.timedelta(hours=self.rng.randint(*hours), minutes=self.rng.randint(0, 59))

    def order_questions(self) -> None:
        as_of = self.store.as_of
        recent = list(self.store.orders_between(as_of - dt.timedelta(days=21), as_of))
        self.rng.shuffle(recent)
        waiting = [o for o in recent if o.fulfillment_status is not FulfillmentStatus.FULFILLED][:12]
        for order in waiting:
            name = self._who(order)
            first = name.split()[0]
            when = self._after(order, (30, 120))
            partly = order.fulfillment_status is FulfillmentStatus.PARTIALLY_FULFILLED
            body = (
                f"<p>Hi,</p><p>I placed order <b>{order.name}</b> on {order.created_at:%B %d} and "
                + ("only part of it has arrived. Still missing:" if partly else "haven't had a shipping email yet:")
                + f"</p>{_lines_html(order)}<p>Can you tell me when it will ship? "
                + f"It's going to {order.ship_to.city}.</p><p>Thanks,<br>{html.escape(first)}</p>"
            )
            subject = f"Order {order.name} - " + ("missing items" if partly else "when will it ship?")
            self.add(folder="Inbox", subject=subject, sender=name, address=order.email, when=when, body=body)

        done = [o for o in recent if o.fulfillment_status is FulfillmentStatus.FULFILLED][:10]
        for i, order in enumerate(done):
            name = self._who(order)
            line = order.line_items[0]
            when = self._after(order, (72, 200))
            if i % 2 == 0:
                subject = f"Wrong part in order {order.name}"
                body = (
                    f"<p>Hello,</p><p>Order {order.name} arrived but the box says <i>{html.escape(line.title)}</i> "
                    f"({html.escape(line.variant_title)}) and the part inside doesn't match SKU {line.sku}. "
                    "Photos attached. How do I swap it?</p>"
                    f"<blockquote>Your order {order.name} has shipped.</blockquote><p>{html.escape(name)}</p>"
                )
                self.add(
                    folder="Inbox", subject=subject, sender=name, address=order.email, when=when, body=body,
                    attachment=True,
                )  # fmt: skip
            else:
                subject = f"Install question - {line.title.split(' - ')[0]}"
                body = (
                    f"<p>Hi team,</p><p>Got my {html.escape(line.title)} from order {order.name}. Is there a torque "
                    "spec or install guide? The instructions in the box are for a different model.</p>"
                    f"<p>Cheers,<br>{html.escape(name)}</p>"
                )
                message = self.add(
                    folder="Inbox", subject=subject, sender=name, address=order.email, when=when, body=body
                )
                if i % 4 == 1:
                    self.reply(message, order, "Thanks for reaching out! The install guide is on the product page:")

        refunded = [o for o in self.store.orders_between(as_of - dt.timedelta(days=45), as_of) if o.refunds][:5]
        for order in refunded:
            name = self._who(order)
            refund = order.refunds[-1]
            when = refund.created_at + dt.timedelta(days=self.rng.randint(2, 6))
            body = (
                f"<p>Hi,</p><p>I returned part of order {order.name} and got an email about a refund of "
                f"${refund.amount} on {refund.created_at:%b %d}, but it's not on my card yet. "
                "How long does it take?</p>"
                f"<p>{html.escape(name)}</p>"
            )
            self.add(
                folder="Inbox",
                subject=f"Refund for {order.name}",
                sender=name,
                address=order.email,
                when=when,
                body=body,
            )

    def reply(self, original: MailMessage, order: Order, opening: str) -> None:
        product = self.store.product(order.line_items[0].product_id)
        handle = product.handle if product else ""
        when = dt.datetime.fromtimestamp(original.received_ms / 1000, dt.UTC) + dt.timedelta(hours=3)
        body = (
            f"<p>Hi {html.escape(original.sender.split()[0])},</p><p>{opening} "
            f'<a href="{self.shop.primary_url}/products/{handle}">{html.escape(order.line_items[0].title)}</a>.</p>'
            f"<p>{self.shop.name} support</p><blockquote>{original.html}</blockquote>"
        )
        self.add(
            folder="Sent", subject=f"Re: {original.subject}", sender=self.shop.name, address=self.shop.email,
            when=when, body=body, to=_quote(original.sender, original.from_address), thread=original.thread_id,
        )  # fmt: skip

    def product_questions(self) -> None:
        active = [p for p in self.store.products if p.status is ProductStatus.ACTIVE]
        out_of_stock = [(p, v) for p in active for v in p.variants if v.inventory_quantity == 0][:6]
        customers = list(self.store.customers)
        for p, v in out_of_stock:
            c = self.rng.choice(customers)
            when = self.store.as_of - dt.timedelta(days=self.rng.randint(0, 12), hours=self.rng.randint(0, 20))
            body = (
                f"<p>Hello,</p><p>Is the <b>{html.escape(p.title)}</b> ({html.escape(v.title)}, SKU {v.sku}) "
                "coming back in stock? The site says sold out. I'd take two sets.</p>"
                f"<p>Thanks,<br>{html.escape(c.first_name)}</p>"
            )
            self.add(
                folder="Inbox",
                subject=f"Back in stock? {v.sku}",
                sender=c.display_name,
                address=c.email,
                when=when,
                body=body,
            )
        fitments = sorted({p.fitment for p in active if "Series" not in p.fitment})
        for p in self.rng.sample([p for p in active if "Series" not in p.fitment], 6):
            c = self.rng.choice(customers)
            car = self.rng.choice([f for f in fitments if f != p.fitment])
            when = self.store.as_of - dt.timedelta(days=self.rng.randint(0, 20), hours=self.rng.randint(0, 20))
            body = (
                f"<p>Hi,</p><p>Will the {html.escape(p.title)} fit a <b>{html.escape(car)}</b>? "
                f"Listing says {html.escape(p.fitment)} only.</p>"
                f'<p>Link: <a href="{self.shop.primary_url}/products/{p.handle}">product page</a></p>'
                f"<p>{html.escape(c.display_name)}</p>"
            )
            self.add(
                folder="Inbox",
                subject=f"Fitment: {p.line} {p.product_type} for {car}",
                sender=c.display_name,
                address=c.email,
                when=when,
                body=body,
            )

    def supplier_mail(self) -> None:
        by_vendor: dict[str, list[tuple[str, str, int]]] = {}
        for p in self.store.products:
            for v in p.variants:
                incoming = sum(level.incoming for level in v.levels)
                if incoming:
                    by_vendor.setdefault(p.vendor, []).append((v.sku, f"{p.title} ({v.title})", incoming))
        for n, (vendor, lines) in enumerate(sorted(by_vendor.items())[:6]):
            domain = "".join(ch for ch in vendor.lower() if ch.isalnum()) + ".example"
            rows = "".join(
                f"<tr><td>{sku}</td><td>{html.escape(title)}</td><td>{qty}</td></tr>" for sku, title, qty in lines[:8]
            )
            po = f"PO-2026-{1100 + n * 7}"
            count = f"{len(lines)} line" + ("s" if len(lines) != 1 else "")
            eta = self.store.today + dt.timedelta(days=self.rng.randint(3, 14))
            body = (
                f"<p>Hello {self.shop.name} purchasing,</p><p>We confirm purchase order <b>{po}</b>. "
                f"Estimated delivery to Main Warehouse: {eta:%B %d, %Y}.</p>"
                f"<table><tr><th>SKU</th><th>Item</th><th>Qty</th></tr>{rows}</table>"
                f"<p>Regards,<br>{html.escape(vendor)} order desk</p>"
            )
            when = self.store.as_of - dt.timedelta(days=self.rng.randint(0, 9), hours=self.rng.randint(0, 20))
            self.add(
                folder="Suppliers", subject=f"{po} confirmed - {count}", sender=f"{vendor} Orders",
                address=f"orders@{domain}", when=when, body=body, to=_quote("Purchasing", ALIAS), attachment=True,
            )  # fmt: skip

    def spam(self) -> None:
        for n, subject in enumerate(("You have won a gift card!!!", "Boost your SEO ranking today")):
            when = self.store.as_of - dt.timedelta(days=n + 1)
            self.add(
                folder="Spam", subject=subject, sender="Promo", address=f"promo{n}@bulk-mail.example", when=when,
                body="<p>Click <a href='https://bulk-mail.example/x'>here</a>.</p>",
            )  # fmt: skip


def build_mailbox(store: DemoStore | None = None) -> tuple[MailMessage, ...]:
    """The demo mailbox, newest first (deterministic; built once per demo store)."""
    store = store or demo_store()
    return _mailbox(store.today, store.seed)


@lru_cache(maxsize=2)
def _mailbox(today: dt.date, seed: int) -> tuple[MailMessage, ...]:
    builder = _Builder(demo_store(today, seed))
    builder.order_questions()
    builder.product_questions()
    builder.supplier_mail()
    builder.spam()
    return tuple(sorted(builder.messages, key=lambda m: (m.received_ms, m.message_id), reverse=True))


def folder_id(name: str) -> str:
    return _FOLDER[name]
