"""Helpers for the security tests: clients with a chosen converter, raw history bytes, key ids."""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from common.converter import encrypted_data_converter
from common.encryption import KEY_ID_METADATA


def client_with_keys(base: Client, payload_keys: str | None) -> Client:
    """A client on `base`'s connection whose converter encrypts with `payload_keys` (None: plain)."""
    converter = encrypted_data_converter(payload_keys) if payload_keys else pydantic_data_converter
    return Client(base.service_client, namespace=base.namespace, data_converter=converter)


async def raw_history(base: Client, workflow_id: str) -> tuple[WorkflowHistory, bytes]:
    """The history as the server stores it: fetched without any codec, serialized to protobuf bytes
    (payload data appears verbatim) plus its JSON form (what `temporal workflow show -o json` prints)."""
    plain = Client(base.service_client, namespace=base.namespace)
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    raw = History(events=history.events).SerializeToString()
    return history, raw + history.to_json().encode()


def payload_key_ids(history: WorkflowHistory) -> set[str]:
    """Every `encryption-key-id` found in any payload of the history."""
    found: set[str] = set()

    def visit(message: Message) -> None:
        if isinstance(message, Payload):
            if KEY_ID_METADATA in message.metadata:
                found.add(message.metadata[KEY_ID_METADATA].decode())
            return
        for _, value in message.ListFields():
            if isinstance(value, Message):
                children: list[object] = [value]
            elif hasattr(value, "values"):  # a map field
                children = list(value.values())
            elif isinstance(value, str | bytes):
                children = []
            else:  # a repeated field, or a scalar
                children = list(value) if hasattr(value, "__iter__") else []
            for child in children:
                if isinstance(child, Message):
                    visit(child)

    for event in history.events:
        visit(event)
    return found
