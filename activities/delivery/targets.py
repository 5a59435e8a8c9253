"""Parses a `deliver_to` string into the channel that delivers it.

Pure and import-light (no I/O, no clock), so a workflow can call `parse_target` in its first task and
reject a bad `deliver_to` with one line before anything runs; the delivery activity parses the same
string again with the same function, so the two can never disagree.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, urlsplit

from common.redact import redact_url

__all__ = ["Target", "email_address", "parse_target", "webhook_url"]

Channel = Literal["webhook", "email", "file"]

# Deliberately strict: one address, no display name, no header tricks (`?cc=`, `%0A`), no spaces.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_MAX_TARGET = 2000
_EXPECTED = "expected an http(s):// URL, mailto:ADDRESS or file:DIRECTORY"


@dataclass(frozen=True)
class Target:
    """Where a delivery goes. `location` is the URL, the email address or the directory."""

    channel: Channel
    location: str


def parse_target(target: str) -> Target:
    """The target `deliver_to` names; raises `ValueError` with a one-line message for anything else."""
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"deliver_to is empty: {_EXPECTED}")
    if len(target) > _MAX_TARGET:
        raise ValueError(f"deliver_to is longer than {_MAX_TARGET} characters")
    if any(ch in target for ch in "\r\n\t\x00"):
        raise ValueError("deliver_to contains control characters")
    text = target.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme in ("http", "https"):
        return Target("webhook", _webhook_url(text))
    if scheme == "mailto":
        return Target("email", _email_address(text[len("mailto:") :]))
    if scheme == "file":
        return Target("file", _directory(text[len("file:") :]))
    raise ValueError(f"deliver_to {_shorten(text)!r} is not supported: {_EXPECTED}")


def email_address(address: str) -> str:
    """A bare recipient address (the `to` of the send_email tool), validated like `mailto:`."""
    return _email_address(address)


def webhook_url(url: str) -> str:
    """An http(s) URL (the `url` of the send_webhook tool), validated like a webhook target."""
    if url.split(":", 1)[0].lower() not in ("http", "https"):
        raise ValueError(f"{_shorten(redact_url(url))!r} is not an http(s):// URL")
    return _webhook_url(url.strip())


def _webhook_url(url: str) -> str:
    shown = _shorten(redact_url(url))  # the query string may hold a token: never in a message
    if any(ch.isspace() for ch in url):
        raise ValueError(f"webhook URL {shown!r} contains whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"webhook URL {shown!r} is malformed: bad host or port") from None
    if not parts.hostname:
        raise ValueError(f"webhook URL {shown!r} has no host")
    if parts.username or parts.password:
        # Credentials in a URL would land in workflow input and history (docs/design.md, principle 8).
        raise ValueError("webhook URL must not carry credentials (user:password@)")
    return url


def _email_address(address: str) -> str:
    # Checked after percent-decoding: `%0d%0a` would otherwise become a header break in the message.
    address = unquote(address.strip())
    if _has_control(address):
        raise ValueError("email address contains control characters (after percent-decoding)")
    if not address:
        raise ValueError("mailto: needs an address, e.g. mailto:reports@example.com")
    if not _EMAIL.fullmatch(address) or len(address) > 254:
        raise ValueError(f"{_shorten(address)!r} is not a single email address")
    return address


def _directory(path: str) -> str:
    # Accept the URL form `file:///srv/reports` as well as `file:/srv/reports` and `file:reports`.
    if path.startswith("//"):
        host, _, rest = path[2:].partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"file target names a remote host {host!r}; only local directories work")
        path = "/" + rest
    path = unquote(path)
    if _has_control(path):
        raise ValueError("file target contains control characters")
    if not path.strip():
        raise ValueError("file: needs a directory, e.g. file:reports (under DELIVERY_FILE_ROOT)")
    if ".." in PurePosixPath(path).parts:
        # Pure check (a workflow calls this): the activity checks the resolved path against the root.
        raise ValueError("file target must not contain '..': it resolves under DELIVERY_FILE_ROOT")
    return path


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
