"""Insights across sources: SEO opportunities, inventory signals and product recommendations.

Each view is a pure function over plain rows (``seo.py``, ``inventory.py``, ``recommendations.py``),
an async ``gather_*`` that reads the connectors and builds those rows, and an entry point in
``tools.py`` that the CLI, the MCP server and the pages share.
"""
