"""Password hashes and the reviewer list (INBOX_REVIEWERS)."""

from __future__ import annotations

import pytest

from common.settings import SettingsError
from inbox.auth import ReviewerDirectory
from inbox.passwords import InvalidPasswordHash, check_hash_format, hash_password, verify_password


def test_hash_verifies_only_its_password_and_is_salted() -> None:
    first, second = hash_password("s3cret", n=2**10), hash_password("s3cret", n=2**10)
    assert first != second  # a fresh salt each time
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("s3cret ", first)
    assert "$" not in first and "," not in first


def test_default_parameters_are_the_strong_ones() -> None:
    assert hash_password("x").split(":")[1:4] == ["16384", "8", "1"]


@pytest.mark.parametrize(
    "stored",
    [
        "plain",
        "scrypt:1024:8:1:abc",
        "bcrypt:1024:8:1:abc:def",
        "scrypt:1000:8:1:abc:def",
        "scrypt:x:8:1:a:b",
    ],
)
def test_malformed_hashes_are_refused(stored: str) -> None:
    with pytest.raises(InvalidPasswordHash):
        check_hash_format(stored)


def test_reviewer_list_parses_and_authenticates() -> None:
    directory = ReviewerDirectory.parse(
        f" alice:{hash_password('a-pw', n=2**10)} , bob:{hash_password('b-pw', n=2**10)},"
    )
    assert set(directory.hashes) == {"alice", "bob"}
    assert directory.authenticate("alice", "a-pw") == "alice"
    assert directory.authenticate("alice", "b-pw") is None
    assert directory.authenticate("mallory", "a-pw") is None


@pytest.mark.parametrize(
    ("setting", "mentions"),
    [
        ("alice", "expected NAME:HASH"),
        ("alice:nothash", "alice"),
        ("al ice:scrypt:1024:8:1:AAAA:AAAA", "expected NAME:HASH"),
        ("alice:scrypt:1024:8:1:AAAA:AAAA,alice:scrypt:1024:8:1:AAAA:AAAA", "listed twice"),
    ],
)
def test_bad_reviewer_lists_name_the_variable(setting: str, mentions: str) -> None:
    with pytest.raises(SettingsError, match="INBOX_REVIEWERS") as raised:
        ReviewerDirectory.parse(setting)
    assert mentions in str(raised.value)
