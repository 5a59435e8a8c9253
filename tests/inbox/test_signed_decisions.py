"""The inbox signs for the signed-in reviewer (issue 25): with `INBOX_SIGNING_KEY_FILE`, the decision it
sends carries a signature by the inbox's key, for that reviewer, over the run and the action the page
showed, which verifies against the keys file's entry for the inbox (and only for the reviewers it
lists). Server-side, through Starlette's TestClient and the recording stand-in for Temporal."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from common.approval_signing import ApproverKeys, new_key_pair, parse_keys_file, verify_decision
from common.settings import Settings, SettingsError
from inbox.app import build_app
from inbox.runs import RunDetail
from tests.inbox.recording import RUN_ID, RecordingRuns
from tests.inbox.test_web_auth import decision_form, sign_in
from workflows.models import ApprovalDecision, ApprovalRecord

ORIGIN = {"origin": "http://testserver"}


@pytest.fixture
def inbox_key(tmp_path: Path) -> tuple[Path, Path]:
    return new_key_pair("inbox", tmp_path / "keys")


def _keys_file(tmp_path: Path, public: Path, signs_for: list[str]) -> ApproverKeys:
    path = tmp_path / "approvers.json"
    path.write_text(json.dumps({"inbox": {"key": public.read_text().strip(), "signs_for": signs_for}}))
    return parse_keys_file(path)


def _verify(
    keys: ApproverKeys,
    decision: ApprovalDecision,
    expected_hash: str,
    *,
    workflow_id: str = RUN_ID,
    approver: str | None = None,
    for_run: bool | None = None,
) -> str | None:
    """Verify as the workflow does, on the run, the hash and the decision (or one of them changed)."""
    assert decision.expires_at is not None
    return verify_decision(
        keys,
        signed_by=decision.signed_by,
        signature=decision.signature,
        now=datetime.now(UTC),
        workflow_id=workflow_id,
        action_hash=expected_hash,
        approver=approver or decision.approver,
        approved=decision.approved,
        budget_usd=decision.budget_usd,
        for_run=decision.for_run if for_run is None else for_run,
        expires_at=decision.expires_at,
    )


def _web(settings: Settings, runs: RecordingRuns, key: Path | None) -> TestClient:
    signing = settings.model_copy(update={"inbox_signing_key_file": key})
    return TestClient(build_app(signing, runs=runs), follow_redirects=False)


def test_the_inbox_signs_for_the_signed_in_reviewer(
    inbox_settings: Settings, inbox_key: tuple[Path, Path], tmp_path: Path
) -> None:
    runs = RecordingRuns()
    web = _web(inbox_settings, runs, inbox_key[0])
    token = sign_in(web, "bob")
    page = web.get(f"/runs/{RUN_ID}").text
    assert 'name="for_run"' in page  # the run page offers "for the rest of this run"
    sent_at = datetime.now(UTC)
    response = web.post("/decisions", data=decision_form(token, for_run="yes", comment="ok"), headers=ORIGIN)
    assert response.status_code == 303

    [(workflow_id, decision, expected_hash)] = runs.decisions
    assert (workflow_id, decision.approver, decision.signed_by) == (RUN_ID, "bob", "inbox")
    assert (decision.approved, decision.for_run, decision.action_hash) == (True, True, expected_hash)
    assert decision.expires_at is not None and decision.expires_at >= sent_at + timedelta(seconds=590)
    keys = _keys_file(tmp_path, inbox_key[1], ["alice", "bob"])
    assert _verify(keys, decision, expected_hash) is None
    # The signature holds for bob, this run, this action and this decision only.
    assert _verify(keys, decision, expected_hash, approver="alice") is not None
    assert _verify(keys, decision, expected_hash, workflow_id="research-other") is not None
    assert _verify(keys, decision, "h2") is not None
    assert _verify(keys, decision, expected_hash, for_run=False) is not None
    # A keys file that does not let the inbox sign for bob refuses it.
    narrow = _keys_file(tmp_path, inbox_key[1], ["alice"])
    assert _verify(narrow, decision, expected_hash) == "'inbox' may not sign for 'bob'"


def test_a_rejection_is_signed_and_never_for_the_rest_of_the_run(
    inbox_settings: Settings, inbox_key: tuple[Path, Path], tmp_path: Path
) -> None:
    runs = RecordingRuns()
    web = _web(inbox_settings.model_copy(update={"inbox_signer_name": "desk"}), runs, inbox_key[0])
    token = sign_in(web, "alice")
    web.post("/decisions", data=decision_form(token, decision="reject", for_run="yes"), headers=ORIGIN)
    [(_, decision, expected_hash)] = runs.decisions
    assert (decision.approved, decision.for_run, decision.signed_by) == (False, False, "desk")
    path = tmp_path / "desk.json"
    path.write_text(json.dumps({"desk": {"key": inbox_key[1].read_text(), "signs_for": ["alice"]}}))
    assert _verify(parse_keys_file(path), decision, expected_hash) is None


def test_without_a_key_the_inbox_signs_nothing(inbox_settings: Settings) -> None:
    runs = RecordingRuns()
    web = _web(inbox_settings, runs, None)
    token = sign_in(web, "alice")
    web.post("/decisions", data=decision_form(token), headers=ORIGIN)
    [(_, decision, _)] = runs.decisions
    assert (decision.signature, decision.signed_by, decision.expires_at, decision.for_run) == (
        None,
        None,
        None,
        False,
    )


def test_a_key_file_the_inbox_cannot_use_stops_it_in_one_line(
    inbox_settings: Settings, inbox_key: tuple[Path, Path]
) -> None:
    key, public = inbox_key
    key.chmod(0o640)
    with pytest.raises(SettingsError) as error:
        build_app(inbox_settings.model_copy(update={"inbox_signing_key_file": key}), runs=RecordingRuns())
    assert str(error.value).startswith(f"INBOX_SIGNING_KEY_FILE: {key}: open to group or others (mode 0640)")
    with pytest.raises(SettingsError, match="this is a public key"):
        build_app(inbox_settings.model_copy(update={"inbox_signing_key_file": public}), runs=RecordingRuns())


class DecidedRuns(RecordingRuns):
    """The run after two decisions: one signed by the inbox for bob, one unsigned."""

    async def detail(self, workflow_id: str) -> RunDetail:
        run = await super().detail(workflow_id)
        assert run.status is not None
        now = datetime.now(UTC)
        signed = ApprovalRecord(
            action="send_email to ana@example.com",
            action_hash="h0",
            approver="bob",
            approved=True,
            decided_at=now,
            via="update",
            signed_by="inbox",
            for_run=True,
        )
        unsigned = signed.model_copy(update={"approver": "alice", "signed_by": None, "for_run": False})
        return replace(run, status=run.status.model_copy(update={"decisions": [signed, unsigned]}))


def test_the_run_page_shows_who_decided_and_what_signed(inbox_settings: Settings) -> None:
    web = TestClient(build_app(inbox_settings, runs=DecidedRuns()), follow_redirects=False)
    sign_in(web, "alice")
    page = web.get(f"/runs/{RUN_ID}").text
    rows = re.findall(r'data-testid="decided-by">(\w+).*?data-testid="signed-by">(.*?)</td>', page, re.S)
    assert [(who, re.sub(r"<[^>]+>", "", signer)) for who, signer in rows] == [
        ("bob", "inbox"),
        ("alice", "unsigned"),
    ]
    assert "approved for the rest of the run" in page
    # The list page's forms do not offer it: only the run page, where the whole action is shown.
    assert 'name="for_run"' not in web.get("/").text
