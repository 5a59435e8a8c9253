"""MCP tool servers: any Model Context Protocol server's tools, offered to runs like built-in tools
(docs/building-workflows.md, "MCP tool servers")."""
