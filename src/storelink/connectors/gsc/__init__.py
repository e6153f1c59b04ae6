"""Google Search Console: see :mod:`storelink.connectors.gsc.client`."""
