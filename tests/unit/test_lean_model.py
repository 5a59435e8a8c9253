"""`LeanModel`: instances share one frozen "fields set" until it is read, and pydantic's behaviour
that reads or changes it is unchanged (common/contracts/lean_model.py)."""

from __future__ import annotations

import copy
import gc
import pickle

from pydantic import ConfigDict

from common.contracts.llm import Message, TextBlock
from common.contracts.runs import StepRecord


def own_sets(objects: list[object]) -> int:
    """How many of the objects' referents are sets (each instance's own fields set)."""
    return sum(1 for referent in gc.get_referents(*objects) if type(referent) is set)


def test_messages_decoded_or_built_share_their_fields_set() -> None:
    decoded = [
        Message.model_validate_json(b'{"role":"user","content":[{"type":"text","text":"hi"}]}')
        for _ in range(50)
    ]
    built = [Message.user_text(f"hello {n}") for n in range(50)]
    assert own_sets(decoded + built) == 0
    assert own_sets([message.content[0] for message in decoded + built]) == 0
    assert decoded[0].model_fields_set == {"role", "content"}
    assert built[0].content[0].model_fields_set == {"text"}


def test_what_reads_or_changes_the_fields_set_behaves_as_pydantic() -> None:
    block = TextBlock(text="a")
    assert block.model_dump(exclude_unset=True) == {"text": "a"}
    assert TextBlock(type="text", text="a").model_dump(exclude_unset=True) == {"type": "text", "text": "a"}
    copied = block.model_copy(update={"type": "text"})
    assert copied.model_fields_set == {"text", "type"}
    assert block.model_fields_set == {"text"}  # the copy's set is its own
    assert pickle.loads(pickle.dumps(block)).model_fields_set == {"text"}
    assert copy.deepcopy(block).model_fields_set == {"text"}
    record = StepRecord(step="s", kind="llm")
    record.detail = "changed"  # not frozen: an assignment adds the name, on this record only
    assert record.model_fields_set == {"step", "kind", "detail"}
    assert StepRecord(step="t", kind="llm").model_fields_set == {"step", "kind"}
    assert StepRecord.model_construct(step="u", kind="tool").model_fields_set == {"step", "kind"}
    assert block == TextBlock(type="text", text="a")


def test_a_subclass_of_a_lean_model_keeps_its_own_fields_set_semantics() -> None:
    class Noted(TextBlock):
        model_config = ConfigDict(frozen=True)
        note: str = ""

    noted = Noted.model_validate({"text": "x", "note": "n"})
    assert own_sets([noted]) == 0
    assert noted.model_fields_set == {"text", "note"}
    assert noted.model_dump(exclude_unset=True) == {"text": "x", "note": "n"}
