"""Bing Webmaster Tools: search performance, crawl health and URL submission for the store's site."""

from storelink.connectors.bing.client import BingConnector

__all__ = ["BingConnector"]
