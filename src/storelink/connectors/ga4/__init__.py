"""Google Analytics 4 (Data API): see :mod:`storelink.connectors.ga4.client`."""
