"""The project's custom search attributes: registered on the embedded dev server and in compose, set
by the workflows, queried by the inbox and by `temporal workflow list --query`."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

__all__ = [
    "ALL_KEYS",
    "APPROVAL_DEADLINE",
    "APPROVERS",
    "COST_USD",
    "FORK_OF",
    "PHASE",
    "TENANT",
    "cli_registrations",
    "missing_on_server",
    "register_commands",
]

PHASE = SearchAttributeKey.for_keyword("AiPhase")
COST_USD = SearchAttributeKey.for_float("AiCostUsd")
APPROVAL_DEADLINE = SearchAttributeKey.for_datetime("AiApprovalDeadline")
APPROVERS = SearchAttributeKey.for_keyword_list("AiApprovers")
FORK_OF = SearchAttributeKey.for_keyword("AiForkOf")  # a forked run's source: workflow_id/run_id@step
TENANT = SearchAttributeKey.for_keyword("AiTenant")  # the run's `tenant` (TENANT_BUDGETS_FILE)

ALL_KEYS = (PHASE, COST_USD, APPROVAL_DEADLINE, APPROVERS, FORK_OF, TENANT)

# The `temporal` CLI's names for the indexed value types.
_CLI_TYPE = {"KEYWORD": "Keyword", "DOUBLE": "Double", "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList"}


def cli_registrations() -> list[str]:
    """`NAME=Type` pairs for `temporal server start-dev --search-attribute`."""
    return [
        f"{key.name}={_CLI_TYPE[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"
        for key in ALL_KEYS
    ]


async def missing_on_server(client: Client) -> list[str] | None:
    """The project's search attributes the namespace lacks (None: the server does not say). Workflows
    upsert them, so on a server without them every workflow task fails ("search attribute AiPhase is
    not defined") and the runs retry forever: the worker refuses to start instead."""
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as error:
        if error.status in (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.PERMISSION_DENIED):
            return None  # e.g. the time-skipping test server, or an API key without operator rights
        raise
    known = set(response.custom_attributes) | set(response.system_attributes)
    return [key.name for key in ALL_KEYS if key.name not in known]


def register_commands(names: list[str]) -> str:
    """The `temporal` CLI commands that register the named search attributes (one per attribute)."""
    types = dict(pair.split("=") for pair in cli_registrations())
    return " && ".join(
        f"temporal operator search-attribute create --name {n} --type {types[n]}" for n in names
    )
