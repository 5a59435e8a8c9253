"""The kit's public surface is what workflows of your own are built from, and the shipped workflows
use nothing else: every import of a project module in `examples/` and in the shipped workflow
modules names a public kit module and a name in its `__all__`, and neither reaches into another
object's private attributes (`ctx._progress`).

A shipped workflow module may also import the workflows' models (`workflows.models`) and another
shipped workflow module (research runs agents as children)."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = frozenset({"common", "workflows", "activities", "worker", "starter"})
PUBLIC_MODULES = (
    "workflows.kit",
    "workflows.kit.testing",
    "workflows.kit.pytest_plugin",
    "activities.kit",
    "worker.plugin",
    "common.settings",
    "common.client",
)
SHIPPED_EXTRA = frozenset({"workflows.models"})


@dataclass(frozen=True)
class Violation:
    where: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.text}"


def public_names() -> dict[str, frozenset[str]]:
    names: dict[str, frozenset[str]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{module_name} has no __all__"
        missing = [name for name in exported if not hasattr(module, name)]
        assert not missing, f"{module_name}.__all__ names what it does not define: {missing}"
        names[module_name] = frozenset(exported)
    return names


def is_workflow_module(tree: ast.Module) -> bool:
    """Defines a class decorated with `@workflow.defn` (or `@workflow.defn(...)`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("workflow.defn", "defn"):
                    return True
    return False


def shipped_workflow_modules() -> dict[str, Path]:
    """`workflows.<name>` for each module of workflows/ (not the kit) that defines a workflow."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / "workflows").glob("*.py")):
        if is_workflow_module(ast.parse(path.read_text(), str(path))):
            found[f"workflows.{path.stem}"] = path
    return found


def violations(
    source: str,
    where: str,
    public: dict[str, frozenset[str]],
    also_allowed: frozenset[str] = frozenset(),
) -> list[Violation]:
    """Each import of a project module that is not a public name of a public kit module (nor a
    module of `also_allowed`, any name of it)."""
    found: list[Violation] = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.ImportFrom):
            if node.level or node.module is None:
                continue  # the package's own modules
            module = node.module
            if module.split(".")[0] not in PROJECT_PACKAGES or module in also_allowed:
                continue
            if module not in public:
                found.append(Violation(where, node.lineno, f"from {module} import ...: not a public module"))
                continue
            for alias in node.names:
                if alias.name not in public[module]:
                    found.append(
                        Violation(where, node.lineno, f"{module}.{alias.name} is not in {module}.__all__")
                    )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module = alias.name
                if module.split(".")[0] not in PROJECT_PACKAGES or module in also_allowed:
                    continue
                if module not in public:
                    found.append(Violation(where, node.lineno, f"import {module}: not a public module"))
    return found


@pytest.fixture(scope="module")
def public() -> dict[str, frozenset[str]]:
    return public_names()


def test_the_examples_import_only_public_names(public: dict[str, frozenset[str]]) -> None:
    modules = sorted((ROOT / "examples").rglob("*.py"))
    assert any(path.name == "workflow.py" for path in modules), "no example workflow found"
    found = [
        problem
        for path in modules
        for problem in violations(path.read_text(), str(path.relative_to(ROOT)), public)
    ]
    assert not found, "\n".join(map(str, found))


def test_the_shipped_workflows_import_only_public_names(public: dict[str, frozenset[str]]) -> None:
    shipped = shipped_workflow_modules()
    assert {"workflows.agent", "workflows.research"} <= shipped.keys()
    allowed = SHIPPED_EXTRA | shipped.keys()
    found = [
        problem
        for module, path in shipped.items()
        for problem in violations(path.read_text(), str(path.relative_to(ROOT)), public, allowed - {module})
    ]
    assert not found, "\n".join(map(str, found))


def private_attribute_uses(source: str, where: str) -> list[Violation]:
    """Each use of another object's private attribute (`ctx._progress`, `self.ctx._gate`): a
    workflow built from the kit reaches the kit's state only through public names."""
    found: list[Violation] = []
    for node in ast.walk(ast.parse(source, where)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue  # the class's own state
        found.append(
            Violation(where, node.lineno, f"{ast.unparse(node)}: a private attribute of another object")
        )
    return found


def test_the_shipped_workflows_and_examples_use_only_public_attributes() -> None:
    paths = [*shipped_workflow_modules().values(), *sorted((ROOT / "examples").rglob("*.py"))]
    found = [
        problem
        for path in paths
        for problem in private_attribute_uses(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not found, "\n".join(map(str, found))


def test_a_private_attribute_use_is_found() -> None:
    source = "ctx._progress.publish()\nself.ctx._gate.can_approve\nself._params\nobj.__class__\n"
    found = sorted(problem.text for problem in private_attribute_uses(source, "x.py"))
    assert found == [
        "ctx._progress: a private attribute of another object",
        "self.ctx._gate: a private attribute of another object",
    ]


PRIVATE_IMPORTS = [
    ("from workflows.kit.context import RunContext\n", "from workflows.kit.context import ..."),
    ("from activities.tools.declare import tool\n", "from activities.tools.declare import ..."),
    ("from workflows.kit import RunContext, ApprovalGate\n", "workflows.kit.ApprovalGate is not in"),
    ("import activities.llm.models\n", "import activities.llm.models: not a public module"),
    (
        "from temporalio import workflow\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from workflows.models import AgentInput\n",
        "from workflows.models import ...",
    ),
    ("def f():\n    from starter.api import start_workflow\n", "from starter.api import ..."),
]


@pytest.mark.parametrize(("source", "expected"), PRIVATE_IMPORTS)
def test_a_private_import_is_found(public: dict[str, frozenset[str]], source: str, expected: str) -> None:
    (problem,) = violations(source, "example.py", public)
    assert expected in problem.text


def test_public_and_outside_imports_pass(public: dict[str, frozenset[str]]) -> None:
    source = (
        "import json\n"
        "from pydantic import BaseModel\n"
        "from temporalio import workflow\n"
        "from . import tools\n"
        "from .models import TicketInput\n"
        "import workflows.kit\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from workflows.kit import KitWorkflow, RunContext\n"
        "    from activities.kit import ToolCall, tool\n"
        "from worker.plugin import Extension\n"
        "from common.settings import Settings\n"
    )
    assert violations(source, "example.py", public) == []


def test_a_shipped_workflow_may_import_the_models_and_another_shipped_workflow(
    public: dict[str, frozenset[str]],
) -> None:
    source = "from workflows.models import AgentInput\nfrom workflows.agent import AgentWorkflow\n"
    allowed = frozenset({"workflows.models", "workflows.agent"})
    assert violations(source, "workflows/research.py", public, allowed) == []
    # ... and an example may not.
    assert len(violations(source, "examples/x.py", public)) == 2


def test_the_shipped_workflow_modules_are_found() -> None:
    assert is_workflow_module(ast.parse("@workflow.defn(name='X')\nclass X: ...\n"))
    assert is_workflow_module(ast.parse("@workflow.defn\nclass X: ...\n"))
    assert not is_workflow_module(ast.parse("class X: ...\n"))


def product_modules() -> list[Path]:
    """Every module of the product's packages and examples, but package `__init__`/`__main__` files."""
    roots = [*(ROOT / package for package in sorted(PROJECT_PACKAGES | {"inbox"})), ROOT / "examples"]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
        and not any(part == "tests" or part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def _defined_names(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (imports included: some modules re-export)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", product_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_product_module_lists_its_public_names(path: Path) -> None:
    where = path.relative_to(ROOT)
    tree = ast.parse(path.read_text(), str(path))
    defined = _defined_names(tree)
    assert "__all__" in defined, f"{where} has no __all__"
    listed = next(
        (
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets)
        ),
        None,
    )
    if isinstance(listed, ast.List) and all(isinstance(item, ast.Constant) for item in listed.elts):
        missing = {str(item.value) for item in listed.elts if isinstance(item, ast.Constant)} - defined
        assert not missing, f"{where}: __all__ names what it does not define: {sorted(missing)}"
