"""Ticket triage: a worked example of a workflow and tools of your own on the ai-workflows kit.

classify the ticket (LLM) -> look up the customer (`lookup_customer`, read-only) -> draft a reply
(LLM) -> a person approves the whole reply and its recipient -> `send_reply` sends it exactly once.
`ticket_triage.extension:EXTENSION` is the entry point `python -m worker` loads.
"""
