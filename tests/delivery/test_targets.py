"""`parse_target`: one function decides the channel, for the workflow (fast rejection) and the
activity alike; every bad `deliver_to` gets a one-line ValueError that says what is expected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from activities.delivery.targets import Target, email_address, parse_target, webhook_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://hooks.example.com/reports?x=1", Target("webhook", "https://hooks.example.com/reports?x=1")),
        ("http://127.0.0.1:8080/in", Target("webhook", "http://127.0.0.1:8080/in")),
        ("HTTPS://Example.com/", Target("webhook", "HTTPS://Example.com/")),
        ("mailto:reports@example.com", Target("email", "reports@example.com")),
        ("mailto:first.last+tag@sub.example.org", Target("email", "first.last+tag@sub.example.org")),
        ("file:/srv/reports", Target("file", "/srv/reports")),
        ("file:reports/out", Target("file", "reports/out")),
        ("file:///srv/reports", Target("file", "/srv/reports")),
        ("file://localhost/srv/reports", Target("file", "/srv/reports")),
        ("  mailto:a@b.example  ", Target("email", "a@b.example")),
    ],
)
def test_valid_targets(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "message_part"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://example.com/x", "not supported"),
        ("example.com/hook", "not supported"),
        ("slack:#general", "not supported"),
        ("https://", "has no host"),
        ("https:///path-only", "has no host"),
        ("http://example.com:99999/", "malformed"),
        ("http://exa mple.com/", "whitespace"),
        ("https://user:secret@example.com/hook", "credentials"),
        ("mailto:", "needs an address"),
        ("mailto:not-an-address", "not a single email address"),
        ("mailto:a@b.example,c@d.example", "not a single email address"),
        ("mailto:a@b.example?cc=evil@x.example", "not a single email address"),
        ("mailto:a@b.example%0ABcc:evil@x.example", "control characters"),
        ("mailto:ops@example.com%0a", "control characters"),
        ("mailto:ops@example.com%0d%0a", "control characters"),
        ("mailto:ops@example.com%0D%0ABcc:%20evil@x.example", "control characters"),
        ("mailto:ops%0d%0a@example.com", "control characters"),
        ("file:../outside", "must not contain '..'"),
        ("file:reports/%2e%2e/%2e%2e/etc", "must not contain '..'"),
        ("mailto:a@b.example\nBcc: x@y.example", "control characters"),
        ("file:", "needs a directory"),
        ("file://fileserver/share", "remote host"),
        ("file:/tmp/a%00b", "control characters"),
        ("https://example.com/" + "a" * 2000, "longer than"),
    ],
)
def test_invalid_targets_fail_with_one_clear_line(text: str, message_part: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_target(text)
    message = str(caught.value)
    assert message_part in message
    assert "\n" not in message and len(message) < 200


def test_tool_argument_validators_share_the_rules() -> None:
    assert email_address("ops@example.com") == "ops@example.com"
    assert webhook_url("https://example.com/x") == "https://example.com/x"
    with pytest.raises(ValueError, match="not an http"):
        webhook_url("mailto:ops@example.com")
    with pytest.raises(ValueError, match="not a single email address"):
        email_address("Ops <ops@example.com>")


def test_targets_module_is_import_light_for_workflows() -> None:
    """Workflows import it inside the sandbox: it must not pull in I/O libraries."""
    code = (
        "import sys, activities.delivery.targets; "
        "print(sorted(m for m in ('httpx', 'smtplib', 'sqlite3', 'temporalio', 'psycopg') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "to",
    [
        "ops@example.com%0a",
        "ops@example.com%0d%0aBcc:evil@x.example",
        "ops%0D%0A@example.com",
        "ops@exa\u2028mple.com",
    ],
)
def test_send_email_recipients_are_checked_after_percent_decoding(to: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        email_address(to)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in?token=s3cret value",  # whitespace
        "https://hooks.example.com:99999/in?token=s3cret",  # bad port
        "ftp://hooks.example.com/in?token=s3cret",  # not http(s)
    ],
)
def test_a_refused_webhook_url_is_named_without_its_query(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        webhook_url(url)
    assert "s3cret" not in str(caught.value) and "hooks.example.com" in str(caught.value)


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("file:../../etc/cron.d", "must not contain '..'"),
        ("file:reports/%2E%2E/%2E%2E", "must not contain '..'"),
        ("mailto:ops@example.com%0D%0ABcc:%20all@example.com", "control characters"),
    ],
)
def test_a_research_run_refuses_these_targets_in_its_first_task(target: str, reason: str) -> None:
    """The workflow's own check (pure parsing, no file system): the run fails at start, typed."""
    from temporalio.exceptions import ApplicationError

    from workflows.kit.delivery import delivery_channel

    with pytest.raises(ApplicationError) as caught:
        delivery_channel(target)
    assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    assert reason in caught.value.message
