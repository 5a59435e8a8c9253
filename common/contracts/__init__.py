"""The contracts both sides import: what workflows send to and get from activities (LLM requests
and replies, tool calls and observations, deliveries, MCP tool lists) and what every kit run shows
the outside (status, steps, usage, approvals). This package imports neither `workflows` nor
`activities`; both import it."""
