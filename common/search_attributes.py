"""The project's custom search attributes: registered on the embedded dev server and in compose, set
by the workflows, queried by the inbox and by `temporal workflow list --query`."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PHASE = SearchAttributeKey.for_keyword("AiPhase")
COST_USD = SearchAttributeKey.for_float("AiCostUsd")
APPROVAL_DEADLINE = SearchAttributeKey.for_datetime("AiApprovalDeadline")
APPROVERS = SearchAttributeKey.for_keyword_list("AiApprovers")

ALL_KEYS = (PHASE, COST_USD, APPROVAL_DEADLINE, APPROVERS)

# The `temporal` CLI's names for the indexed value types.
_CLI_TYPE = {"KEYWORD": "Keyword", "DOUBLE": "Double", "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList"}


def cli_registrations() -> list[str]:
    """`NAME=Type` pairs for `temporal server start-dev --search-attribute`."""
    return [
        f"{key.name}={_CLI_TYPE[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"
        for key in ALL_KEYS
    ]
