"""The MCP server: every connector operation as a tool for AI agents (stdio and streamable HTTP)."""
