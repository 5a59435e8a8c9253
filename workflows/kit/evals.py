"""What `starter eval` checks beyond its defaults, declared by a workflow for itself:

    @workflow.defn(name="TicketTriageWorkflow")
    class TicketTriageWorkflow(KitWorkflow):
        eval_checks = EvalChecks(arguments={"send_reply": ["to"]}, same_fields=["category"])

By default a candidate passes when its outcome is the original's, it asked for the same tool calls
(names in order, every argument equal), and, for a grounded answer (a result with `citations` whose
original outcome was `grounded`), every citation is valid and the outcome is still `grounded`.
`arguments` narrows which arguments of a tool must be equal (a reply's wording may change, its
recipient may not); `same_fields` adds result fields that must be equal. No I/O: a plain value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["EvalChecks"]


@dataclass(frozen=True)
class EvalChecks:
    # Tool name -> the arguments that matter; a tool not named here: all its arguments.
    arguments: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # Result fields (top level) whose values must equal the original's.
    same_fields: Sequence[str] = ()

    def arguments_that_matter(self, tool: str, arguments: Mapping[str, object]) -> dict[str, object]:
        """The part of a call's arguments the comparison looks at."""
        names = self.arguments.get(tool)
        if names is None:
            return dict(arguments)
        return {name: arguments.get(name) for name in names}
