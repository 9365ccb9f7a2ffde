"""Semantic bug kinds as small LibCST transformers.

Random line edits (`toolthink.data.corruption`) make bugs unlike the ones people
write. These mutations cover the bug kinds that HumanEvalFix labels (Muennighoff
et al., "OctoPack", 2023, table of bug types): operator misuse, value misuse,
variable misuse, missing logic, excess logic and function misuse. Each is one
small transformer that changes exactly one site, chosen by the caller's random
generator among all the sites where it applies. LibCST keeps every other byte of
the program as it was, so the change stays local.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

import libcst as cst
from libcst.metadata import ExpressionContext, ExpressionContextProvider, MetadataWrapper

from toolthink.tasks.bug_kinds import BugKind

__all__ = ["MUTATIONS", "mutate"]

_Node = TypeVar("_Node", bound=cst.CSTNode)

_BINARY_SWAPS: dict[type[cst.BaseBinaryOp], type[cst.BaseBinaryOp]] = {
    cst.Add: cst.Subtract, cst.Subtract: cst.Add, cst.Multiply: cst.FloorDivide,
    cst.FloorDivide: cst.Multiply, cst.Divide: cst.Multiply, cst.Modulo: cst.FloorDivide,
}
_COMPARE_SWAPS: dict[type[cst.BaseCompOp], type[cst.BaseCompOp]] = {
    cst.LessThan: cst.LessThanEqual, cst.LessThanEqual: cst.LessThan,
    cst.GreaterThan: cst.GreaterThanEqual, cst.GreaterThanEqual: cst.GreaterThan,
    cst.Equal: cst.NotEqual, cst.NotEqual: cst.Equal, cst.In: cst.NotIn, cst.NotIn: cst.In,
    cst.Is: cst.IsNot, cst.IsNot: cst.Is,
}
_BOOL_SWAPS: dict[type[cst.BaseBooleanOp], type[cst.BaseBooleanOp]] = {
    cst.And: cst.Or, cst.Or: cst.And,
}
_AUG_SWAPS: dict[type[cst.BaseAugOp], type[cst.BaseAugOp]] = {
    cst.AddAssign: cst.SubtractAssign, cst.SubtractAssign: cst.AddAssign,
    cst.MultiplyAssign: cst.FloorDivideAssign,
}
_FUNCTION_SWAPS = {
    "min": "max", "max": "min", "any": "all", "all": "any", "sorted": "reversed",
    "append": "extend", "extend": "append", "lower": "upper", "upper": "lower",
    "startswith": "endswith", "endswith": "startswith", "keys": "values", "values": "keys",
    "floor": "ceil", "ceil": "floor", "index": "count", "isdigit": "isalpha",
    "isalpha": "isdigit", "remove": "pop", "lstrip": "rstrip", "rstrip": "lstrip",
}


class _OneSite(cst.CSTTransformer):
    """Counts the sites where a mutation applies, or mutates the ``target``-th one."""

    METADATA_DEPENDENCIES = (ExpressionContextProvider,)

    def __init__(self, target: int = -1, rng: random.Random | None = None) -> None:
        super().__init__()
        self.target = target
        self.sites = 0
        self.rng = rng or random.Random(0)
        self.names: list[str] = []

    def _hit(self) -> bool:
        hit = self.sites == self.target
        self.sites += 1
        return hit


class _OperatorMisuse(_OneSite):
    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BinaryOperation:
        swap = _BINARY_SWAPS.get(type(updated_node.operator))
        if swap is None or not self._hit():
            return updated_node
        return updated_node.with_changes(operator=_same_spacing(updated_node.operator, swap))

    def leave_ComparisonTarget(
        self, original_node: cst.ComparisonTarget, updated_node: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        swap = _COMPARE_SWAPS.get(type(updated_node.operator))
        if swap is None or not self._hit():
            return updated_node
        return updated_node.with_changes(operator=_compare_op(updated_node.operator, swap))

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BooleanOperation:
        swap = _BOOL_SWAPS[type(updated_node.operator)]
        if not self._hit():
            return updated_node
        return updated_node.with_changes(operator=_same_spacing(updated_node.operator, swap))

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.AugAssign:
        swap = _AUG_SWAPS.get(type(updated_node.operator))
        if swap is None or not self._hit():
            return updated_node
        return updated_node.with_changes(operator=_same_spacing(updated_node.operator, swap))


class _ValueMisuse(_OneSite):
    def leave_Integer(self, original_node: cst.Integer, updated_node: cst.Integer) -> cst.Integer:
        if not updated_node.value.isdigit() or not self._hit():
            return updated_node
        value = int(updated_node.value)
        delta = self.rng.choice((-1, 1)) if value > 0 else 1  # off by one
        return updated_node.with_changes(value=str(value + delta))

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        if updated_node.value not in ("True", "False") or not self._hit():
            return updated_node
        return updated_node.with_changes(value="False" if updated_node.value == "True" else "True")


class _VariableMisuse(_OneSite):
    """Replace a variable read by another name the program assigns or takes."""

    def visit_Module(self, node: cst.Module) -> None:
        collector = _NameCollector()
        node.visit(collector)
        self.names = sorted(collector.names)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        context = self.get_metadata(ExpressionContextProvider, original_node, None)
        others = [n for n in self.names if n != updated_node.value]
        if (context is not ExpressionContext.LOAD or updated_node.value not in self.names
                or not others or not self._hit()):
            return updated_node
        return updated_node.with_changes(value=self.rng.choice(others))


class _NameCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_Param(self, node: cst.Param) -> None:
        self.names.add(node.name.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name):
            self.names.add(node.target.value)


class _MissingLogic(_OneSite):
    """Drop one operand of an ``and``/``or``, or one statement of a block."""

    def leave_BooleanOperation(
        self, original_node: cst.BooleanOperation, updated_node: cst.BooleanOperation
    ) -> cst.BaseExpression:
        if not self._hit():
            return updated_node
        kept = updated_node.left if self.rng.random() < 0.5 else updated_node.right
        return kept.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        removable = [i for i, s in enumerate(body) if not _is_docstring(s)]
        if len(body) < 2 or not removable or not self._hit():
            return updated_node
        del body[self.rng.choice(removable)]
        return updated_node.with_changes(body=body)


class _ExcessLogic(_OneSite):
    """Repeat an assignment or call statement, or add ``+ 1`` to a returned value."""

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        candidates = [
            i for i, s in enumerate(body)
            if isinstance(s, cst.SimpleStatementLine)
            and isinstance(s.body[0], cst.AugAssign | cst.Assign | cst.Expr)
            and not _is_docstring(s)
        ]
        if not candidates or not self._hit():
            return updated_node
        i = self.rng.choice(candidates)
        body.insert(i + 1, body[i])
        return updated_node.with_changes(body=body)

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        value = updated_node.value
        if value is None or not isinstance(value, cst.Name | cst.Call | cst.Subscript):
            return updated_node
        if not self._hit():
            return updated_node
        return updated_node.with_changes(
            value=cst.BinaryOperation(value, cst.Add(), cst.Integer("1"))
        )


class _FunctionMisuse(_OneSite):
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = updated_node.func
        name = func if isinstance(func, cst.Name) else getattr(func, "attr", None)
        if not isinstance(name, cst.Name) or name.value not in _FUNCTION_SWAPS:
            return updated_node
        if not self._hit():
            return updated_node
        new_name = name.with_changes(value=_FUNCTION_SWAPS[name.value])
        if isinstance(func, cst.Name):
            return updated_node.with_changes(func=new_name)
        return updated_node.with_changes(func=func.with_changes(attr=new_name))


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine)
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString))


def _same_spacing(op: _Node, new_type: type[_Node]) -> _Node:
    fields = {k: getattr(op, k) for k in ("whitespace_before", "whitespace_after")
              if hasattr(op, k)}
    return new_type(**fields)


def _compare_op(op: cst.BaseCompOp, new_type: type[cst.BaseCompOp]) -> cst.BaseCompOp:
    spacing: dict[str, Any] = {
        "whitespace_before": getattr(op, "whitespace_before", cst.SimpleWhitespace(" ")),
        "whitespace_after": getattr(op, "whitespace_after", cst.SimpleWhitespace(" ")),
    }
    if new_type in (cst.NotIn, cst.IsNot):
        spacing["whitespace_between"] = cst.SimpleWhitespace(" ")
    make: Callable[..., cst.BaseCompOp] = new_type
    return make(**spacing)


MUTATIONS: dict[BugKind, Callable[..., _OneSite]] = {
    BugKind.OPERATOR_MISUSE: _OperatorMisuse,
    BugKind.VALUE_MISUSE: _ValueMisuse,
    BugKind.VARIABLE_MISUSE: _VariableMisuse,
    BugKind.MISSING_LOGIC: _MissingLogic,
    BugKind.EXCESS_LOGIC: _ExcessLogic,
    BugKind.FUNCTION_MISUSE: _FunctionMisuse,
}
"""Bug kind (HumanEvalFix's names, `toolthink.tasks.bug_kinds.SEMANTIC_KINDS`) -> transformer."""


def mutate(source: str, kind: str, rng: random.Random) -> str | None:
    """Apply one mutation of ``kind`` at a site chosen by ``rng``.

    Args:
        source: A Python program that LibCST parses.
        kind: One of `MUTATIONS`' keys (a `BugKind` or its name).
        rng: The random generator (the caller seeds it, for determinism).

    Returns:
        The mutated program, or None when LibCST cannot parse ``source``, the
        kind has no site in it, or the mutation changed nothing.

    Raises:
        ValueError: ``kind`` is not a bug kind.
        KeyError: ``kind`` is a line edit, not a semantic kind.
    """
    factory = MUTATIONS[BugKind(kind)]
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except (cst.ParserSyntaxError, TypeError, ValueError, RecursionError):
        return None
    counter = factory()
    wrapper.visit(counter)
    if counter.sites == 0:
        return None
    mutated = wrapper.visit(factory(rng.randrange(counter.sites), rng)).code
    return mutated if mutated != source else None

