"""An MCP tool result as the model reads it: text as is, structured content as JSON, images and audio
as a short description, resources as links; `isError` makes it an error observation. Results above
`MAX_RESULT_CHARS` are cut with a note (the run context cuts again to what it keeps per step)."""

from __future__ import annotations

import base64
import binascii
import json

from mcp_types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from common.contracts.tools import ToolObservation

__all__ = ["MAX_RESULT_CHARS", "observation_of"]

# Far below Temporal's payload limit, and more than any model turn needs from one call.
MAX_RESULT_CHARS = 100_000


def observation_of(result: CallToolResult) -> ToolObservation:
    parts = [_describe(block) for block in result.content]
    has_text = any(isinstance(block, TextContent) for block in result.content)
    if result.structured_content is not None and not has_text:
        # The spec asks servers to send structured content as text too: shown once, as JSON, only
        # when they did not.
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    content = "\n".join(part for part in parts if part) or "(no content)"
    if len(content) > MAX_RESULT_CHARS:
        content = content[:MAX_RESULT_CHARS] + f"\n[truncated {len(content)} chars]"
    return ToolObservation(content=content, is_error=result.is_error)


def _describe(block: ContentBlock) -> str:
    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent):
        return f"[image {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, AudioContent):
        return f"[audio {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, ResourceLink):
        label = f" ({block.description})" if block.description else ""
        return f"[resource {block.name}: {block.uri}{label}]"
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, TextResourceContents):
            return f"[resource {resource.uri}]\n{resource.text}"
        if isinstance(resource, BlobResourceContents):
            kind = resource.mime_type or "binary"
            return f"[resource {resource.uri}: {kind}, {_decoded_size(resource.blob)} bytes]"
    return f"[{getattr(block, 'type', 'content')}]"


def _decoded_size(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data)
