"""Parses a `deliver_to` string into the channel that delivers it.

Pure and import-light (no I/O, no clock), so a workflow can call `parse_target` in its first task and
reject a bad `deliver_to` with one line before anything runs; the delivery activity parses the same
string again with the same function, so the two can never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

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
        raise ValueError(f"{_shorten(url)!r} is not an http(s):// URL")
    return _webhook_url(url.strip())


def _webhook_url(url: str) -> str:
    if any(ch.isspace() for ch in url):
        raise ValueError(f"webhook URL {_shorten(url)!r} contains whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as error:
        raise ValueError(f"webhook URL {_shorten(url)!r} is malformed: {error}") from None
    if not parts.hostname:
        raise ValueError(f"webhook URL {_shorten(url)!r} has no host")
    if parts.username or parts.password:
        # Credentials in a URL would land in workflow input and history (DESIGN.md principle 8).
        raise ValueError("webhook URL must not carry credentials (user:password@)")
    return url


def _email_address(address: str) -> str:
    address = unquote(address.strip())
    if not address:
        raise ValueError("mailto: needs an address, e.g. mailto:reports@example.com")
    if not _EMAIL.match(address) or len(address) > 254:
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
    if any(ch in path for ch in "\r\n\x00"):
        raise ValueError("file target contains control characters")
    if not path.strip():
        raise ValueError("file: needs a directory, e.g. file:/srv/reports")
    return path


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
