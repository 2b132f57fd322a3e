"""Assert-style tests, judged where the attempt's code cannot reach.

A test such as `assert f(2) == 4` is split, here in Mentor's process, into the parts only the attempt can
compute (the *leaves*: `f(2)`) and everything else: literals, comparisons, `and`/`or`/`not`, arithmetic
and a few pure built-ins (`abs`, `len`, `sorted`, `math.isclose`, ...). Only the leaves' source is sent to
the sandbox; each comes back as a canonical serialisation of plain data (`_sandbox_harness._encode`), and
the comparison runs here on plain built-in values. So:

- the expected value (`4`) never enters the attempt's process: no frame, file or memory there holds it;
- a value whose comparison the attempt defines (an `__eq__` that is always true, an `int` subclass) is
  not plain data and fails to serialise: the test fails and the grade says why;
- patching `exec`, `builtins`, the harness or `os` in the sandbox can only change the values it reports,
  and reporting the right values is solving the task.

A test whose logic would have to run inside the sandbox (a comparison inside a comprehension or a lambda,
`is` between non-singletons) is refused with `VerifierError`: it could be forged, so it is not run.
Other statements (`s = Solution()`) run in the sandbox as set-up; only `assert`s decide.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from typing import Any

from mentor.errors import VerifierError

# IR nodes (plain tuples, evaluated by `_ev`):
#   ("lit", value) | ("leaf", step) | ("and"|"or", [ir]) | ("not"|"neg"|"pos", ir)
#   ("cmp", [ir], [op]) | ("bin", op, ir, ir) | ("call", name, [ir], {kw: ir}) | ("sub", ir, ir)
#   ("slice", ir|None, ir|None, ir|None) | ("tuple"|"list", [ir]) | ("method", name, ir, [ir])
IR = tuple[Any, ...]

_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
        ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple, "dict": dict,
          "set": set, "frozenset": frozenset, "type(None)": type(None), "bytes": bytes, "complex": complex}


_PLAIN = (int, float, complex, str, bytes, bool, list, tuple, dict, set, frozenset, type(None))
_MAX_SEQ = 1_000_000  # longest sequence the parent builds from a test (range, repetition)


class _Failed(Exception):
    """A test step that failed (raised in the sandbox, or could not be judged): the test fails."""


def _isclose(a: Any, b: Any, *, rel_tol: float = 1e-9, abs_tol: float = 0.0) -> bool:
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def _sorted(xs: Any, *, reverse: bool = False) -> list[Any]:
    return sorted(xs, reverse=reverse)


def _round(x: Any, ndigits: int | None = None) -> Any:
    return round(x, ndigits)


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > _MAX_SEQ:  # a value from the attempt must not make the grader allocate without bound
        raise _Failed("range too large for a test")
    return r


# pure functions of plain values, applied here; the attempt shadowing one of these names in its own
# namespace does not change what the test means
_FUNCS: dict[str, Any] = {
    "abs": abs, "len": len, "sorted": _sorted, "round": _round, "min": min, "max": max, "sum": sum,
    "any": any, "all": all, "range": _range, "reversed": reversed, "set": set, "frozenset": frozenset, "list": list, "tuple": tuple,
    "int": int, "float": float, "str": str, "bool": bool, "isinstance": isinstance,
    "math.isclose": _isclose, "math.isfinite": math.isfinite, "math.isnan": math.isnan,
    "math.sqrt": math.sqrt, "math.floor": math.floor, "math.ceil": math.ceil, "math.fabs": math.fabs,
}
_FUNC_KWARGS = {"math.isclose": {"rel_tol", "abs_tol"}, "sorted": {"reverse"}, "round": {"ndigits"}}
# Never evaluated in the sandbox: they would introduce names, or run the test's logic there
_NEVER_IN_CHILD = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda, ast.Await,
                   ast.Yield, ast.YieldFrom, ast.NamedExpr)
# Operators: in the sandbox only between values the attempt cannot touch (literals), because an
# operator on the attempt's object is its own method (`__sub__`, `__eq__`), fed the test's constants
_OPERATORS = (ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp)
# setup statements the sandbox may run
_SETUP = (ast.Assign, ast.AnnAssign, ast.Expr, ast.Import, ast.ImportFrom, ast.Pass)
# methods of plain built-in values applied in the parent, so that `f(x).startswith("ab")` is not answered
# by the attempt's own object; none of them can grow a value without bound
_METHODS = {"startswith", "endswith", "count", "index", "find", "rfind", "split", "rsplit", "strip",
            "lstrip", "rstrip", "lower", "upper", "casefold", "title", "capitalize", "isdigit", "isalpha",
            "isalnum", "isspace", "islower", "isupper", "isdecimal", "isnumeric", "splitlines",
            "removeprefix", "removesuffix", "keys", "values", "items", "get", "issubset", "issuperset",
            "isdisjoint", "union", "intersection", "difference", "symmetric_difference", "bit_length",
            "is_integer", "hex", "conjugate"}


@dataclass(frozen=True)
class TestPlan:
    source: str
    steps: tuple[tuple[str, str], ...]  # sent to the sandbox: ("exec", stmt) | ("eval", leaf expression)
    checks: tuple[tuple[str, IR], ...]  # (assert source, IR over the eval steps' values), judged here


class _Unsupported(Exception):
    pass


def plan_test(source: str, *, where: str) -> TestPlan:
    """Split one test (one or more statements; its `assert`s decide) into sandbox steps and local checks.
    `VerifierError` naming `where` when it cannot be judged outside the sandbox."""
    if not isinstance(source, str):
        raise VerifierError(f"a test must be a string of Python statements, got {type(source).__name__}",
                            where=where, fix="write each test as a string such as \"assert f(2) == 4\"")
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise VerifierError(f"test {source!r} is not valid Python: {exc.msg}", where=where,
                            fix="write each test as Python statements, e.g. \"assert f(2) == 4\"") from None
    steps: list[tuple[str, str]] = []
    checks: list[tuple[str, IR]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assert):
            try:
                checks.append((ast.unparse(stmt), _lower(stmt.test, steps)))
            except _Unsupported as exc:
                raise VerifierError(
                    f"test {ast.unparse(stmt)!r} cannot be judged outside the attempt's process: {exc}",
                    where=where, fix="write the check as comparisons of the attempt's values with literals, "
                    "e.g. one `assert f(x) == EXPECTED` per case (or use stdin/stdout tests)") from None
        else:
            try:
                if not isinstance(stmt, _SETUP):
                    raise _Unsupported(f"a {type(stmt).__name__.lower()} statement would run the test's logic in "
                                       "the attempt's interpreter")
                _child_safe(stmt)
            except _Unsupported as exc:
                raise VerifierError(
                    f"set-up {ast.unparse(stmt)!r} in test {source!r} cannot run beside the attempt: {exc}",
                    where=where, fix="keep set-up to plain assignments and calls (`s = Solution()`), unroll "
                    "loops and helpers, and write each check as a top-level assert") from None
            steps.append(("exec", ast.unparse(stmt)))
    if not checks:
        raise VerifierError(f"test {source!r} has no assert statement", where=where,
                            fix="write tests as \"assert f(2) == 4\"; a test without an assert decides nothing")
    return TestPlan(source, tuple(steps), tuple(checks))


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _attempt_free(node: ast.AST) -> bool:
    """Only literals and operators: nothing in it can reach a value of the attempt's."""
    return not any(isinstance(sub, ast.Name | ast.Call | ast.Attribute | ast.Subscript | ast.Starred)
                   for sub in ast.walk(node))


def _child_safe(node: ast.AST) -> None:
    """Raise `_Unsupported` unless `node` may run in the sandbox without judging anything there."""
    for sub in ast.walk(node):
        if isinstance(sub, _NEVER_IN_CHILD):
            raise _Unsupported(f"{type(sub).__name__} in {ast.unparse(node)!r} would run the test's logic "
                               "in the attempt's interpreter")
        if isinstance(sub, _OPERATORS) and not _attempt_free(sub):
            raise _Unsupported(f"{ast.unparse(sub)!r} would be computed by the attempt's own operators")
        if isinstance(sub, ast.Assert):
            raise _Unsupported("an assert inside a block would be judged by the attempt's interpreter")


def _leaf(node: ast.expr, steps: list[tuple[str, str]]) -> IR:
    _child_safe(node)
    steps.append(("eval", ast.unparse(node)))
    return ("leaf", len(steps) - 1)


def _func_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _lower(node: ast.expr, steps: list[tuple[str, str]]) -> IR:
    ok, value = _literal(node)
    if ok:
        return ("lit", value)
    if isinstance(node, ast.BoolOp):
        return ("and" if isinstance(node.op, ast.And) else "or", [_lower(v, steps) for v in node.values])
    if isinstance(node, ast.UnaryOp):
        kind = {ast.Not: "not", ast.USub: "neg", ast.UAdd: "pos"}.get(type(node.op))
        return (kind, _lower(node.operand, steps)) if kind else _leaf(node, steps)
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for op, a, b in zip(node.ops, operands, operands[1:], strict=False):
            if isinstance(op, ast.Is | ast.IsNot) and not any(
                    isinstance(x, ast.Constant) and (x.value is None or x.value is True or x.value is False)
                    for x in (a, b)):
                raise _Unsupported("`is` is only judged against None, True or False")
        return ("cmp", [_lower(o, steps) for o in operands], [type(op) for op in node.ops])
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return ("bin", type(node.op), _lower(node.left, steps), _lower(node.right, steps))
    if isinstance(node, ast.Call):
        name = _func_name(node.func)
        if name in _FUNCS and not any(isinstance(a, ast.Starred) for a in node.args):
            allowed = _FUNC_KWARGS.get(name, set())
            if all(k.arg in allowed for k in node.keywords):
                if name == "isinstance":
                    return _lower_isinstance(node, steps)
                return ("call", name, [_lower(a, steps) for a in node.args],
                        {str(k.arg): _lower(k.value, steps) for k in node.keywords})
        if (isinstance(node.func, ast.Attribute) and node.func.attr in _METHODS and not node.keywords
                and not any(isinstance(a, ast.Starred) for a in node.args)):
            return ("method", node.func.attr, _lower(node.func.value, steps), [_lower(a, steps) for a in node.args])
        return _leaf(node, steps)
    if isinstance(node, ast.Subscript):
        return ("sub", _lower(node.value, steps), _lower(node.slice, steps))
    if isinstance(node, ast.Slice):
        return ("slice", *(None if x is None else _lower(x, steps) for x in (node.lower, node.upper, node.step)))
    if isinstance(node, ast.Tuple | ast.List):
        return ("tuple" if isinstance(node, ast.Tuple) else "list", [_lower(e, steps) for e in node.elts])
    return _leaf(node, steps)


def _lower_isinstance(node: ast.Call, steps: list[tuple[str, str]]) -> IR:
    if len(node.args) != 2:
        raise _Unsupported("isinstance takes two arguments")
    kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    types = []
    for k in kinds:
        name = ast.unparse(k)
        if name not in _TYPES:
            raise _Unsupported(f"isinstance against {name!r}: only built-in value types are judged")
        types.append(_TYPES[name])
    return ("call", "isinstance", [_lower(node.args[0], steps), ("lit", tuple(types))], {})


# --- judging ------------------------------------------------------------------------------------------



def decode(tagged: Any, depth: int = 0) -> Any:
    """The sandbox's canonical form back to plain values; `ValueError` for anything else."""
    if depth > 64:
        raise ValueError("value too deep")
    if tagged is None or type(tagged) in (bool, str, float, int):
        return tagged
    if type(tagged) is dict and len(tagged) == 1:
        ((tag, v),) = tagged.items()
        if tag == "float" and v in ("nan", "inf", "-inf"):
            return float(v)
        if tag == "bytes" and type(v) is str:
            return bytes.fromhex(v)
        if tag in ("list", "tuple", "set", "frozenset") and type(v) is list:
            items = [decode(x, depth + 1) for x in v]
            try:
                return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
            except TypeError as exc:  # an unhashable member of a set: no real set looks like that
                raise ValueError(str(exc)) from None
        if tag == "dict" and type(v) is list and all(type(p) is list and len(p) == 2 for p in v):
            try:
                return {decode(k, depth + 1): decode(x, depth + 1) for k, x in v}
            except TypeError as exc:
                raise ValueError(str(exc)) from None
        if tag == "complex" and type(v) is list and len(v) == 2:
            return complex(decode(v[0], depth + 1), decode(v[1], depth + 1))
    raise ValueError(f"not a canonical value: {str(tagged)[:80]}")


def _binop(op: type, a: Any, b: Any) -> Any:
    if op is ast.Pow and (not isinstance(a, int | float) or not isinstance(b, int | float) or abs(b) > 1024
                          or (isinstance(a, int) and a.bit_length() * abs(b) > 1_000_000)):
        raise _Failed("power out of range for a test")
    if op is ast.Mult:
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, str | list | tuple | bytes) and isinstance(n, int) and len(seq) * n > _MAX_SEQ:
                raise _Failed("repetition too large for a test")
    return _BIN[op](a, b)


def _ev(ir: IR, values: list[Any]) -> Any:
    kind = ir[0]
    if kind == "lit":
        return ir[1]
    if kind == "leaf":
        v = values[ir[1]]
        if isinstance(v, _Failed):
            raise v
        return v
    if kind == "and":
        out: Any = True
        for x in ir[1]:
            out = _ev(x, values)
            if not out:
                return out
        return out
    if kind == "or":
        out = False
        for x in ir[1]:
            out = _ev(x, values)
            if out:
                return out
        return out
    if kind == "not":
        return not _ev(ir[1], values)
    if kind == "neg":
        return -_ev(ir[1], values)
    if kind == "pos":
        return +_ev(ir[1], values)
    if kind == "cmp":
        left = _ev(ir[1][0], values)
        for op, right_ir in zip(ir[2], ir[1][1:], strict=True):
            right = _ev(right_ir, values)
            if not _CMP[op](left, right):
                return False
            left = right
        return True
    if kind == "bin":
        return _binop(ir[1], _ev(ir[2], values), _ev(ir[3], values))
    if kind == "call":
        args = [_ev(a, values) for a in ir[2]]
        kwargs = {k: _ev(v, values) for k, v in ir[3].items()}
        return _FUNCS[ir[1]](*args, **kwargs)
    if kind == "method":
        receiver = _ev(ir[2], values)
        if type(receiver) not in _PLAIN:
            raise _Failed(f"{ir[1]}() on a {type(receiver).__name__}")
        return getattr(receiver, ir[1])(*[_ev(a, values) for a in ir[3]])
    if kind == "tuple":
        return tuple(_ev(a, values) for a in ir[1])
    if kind == "list":
        return [_ev(a, values) for a in ir[1]]
    if kind == "sub":
        return _ev(ir[1], values)[_ev(ir[2], values)]
    if kind == "slice":
        return slice(*(None if x is None else _ev(x, values) for x in ir[1:]))
    raise AssertionError(f"unknown IR node {kind}")  # a bug in _lower, never the attempt's doing


@dataclass(frozen=True)
class TestOutcome:
    passed: bool
    why: str
    suspicious: tuple[str, ...] = ()


def judge(plan: TestPlan, reported: list[dict[str, Any]] | None, status: str) -> TestOutcome:
    """Pass or fail from the values the sandbox reported; the comparison happens here."""
    if reported is None:
        return TestOutcome(False, f"no result from the sandbox (status {status})")
    values: list[Any] = []
    suspicious: list[str] = []
    for i, (kind, src) in enumerate(plan.steps):
        rec = reported[i] if i < len(reported) else None
        if not isinstance(rec, dict) or rec.get("ok") is not True:
            err = str(rec.get("error", "?"))[:200] if isinstance(rec, dict) else "not evaluated"
            if "is not plain data" in err:
                suspicious.append(f"{src}: {err}")
            if kind == "exec":
                return TestOutcome(False, f"set-up {src!r} failed: {err}", tuple(suspicious))
            values.append(_Failed(f"{src} raised {err}"))
            continue
        if kind == "exec":
            values.append(None)
            continue
        try:
            values.append(decode(rec.get("v")))
        except (ValueError, TypeError, RecursionError) as exc:
            suspicious.append(f"{src}: malformed value report ({exc})")
            values.append(_Failed(f"{src}: malformed value report"))
    for text, ir in plan.checks:
        try:
            ok = bool(_ev(ir, values))
        except _Failed as exc:
            return TestOutcome(False, f"{text}: {exc}", tuple(suspicious))
        except Exception as exc:  # a plain-value operation that Python itself would raise on
            return TestOutcome(False, f"{text}: {type(exc).__name__}: {str(exc)[:200]}", tuple(suspicious))
        if not ok:
            return TestOutcome(False, f"{text}: false", tuple(suspicious))
    return TestOutcome(True, "passed", tuple(suspicious))
