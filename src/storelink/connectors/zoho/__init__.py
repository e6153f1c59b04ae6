"""Zoho Mail: the store's mailbox (read, search, send), data-centre aware, over OAuth refresh tokens."""

from storelink.connectors.zoho.client import ZohoConnector

__all__ = ["ZohoConnector"]
