"""The expression evaluator against GitHub's documented semantics."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from expr import Env, ExprError, condition, evaluate, interpolate  # noqa: E402

CTX = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "event": {"pull_request": {"head": {"repo": {"full_name": "fork/x"}}}},
               "repository": "o/r"},
    "inputs": {"release": "previous", "only": "", "require-reviewed-plan": True},
    "steps": {"deploy": {"outputs": {"release-id": "20261201-abc", "changed": "true"}, "outcome": "failure"}},
    "vars": {"STACK_NAME": "spa-ecs"},
    "secrets": {},
    "env": {"A": "1"},
}


def ev(s, status="success"):
    return evaluate(s, Env(CTX, status=lambda: status))


@pytest.mark.parametrize("src,want", [
    ("github.event_name == 'push'", True),
    ("github.event_name == 'PUSH'", True),  # string equality ignores case
    ("github.event_name != 'push'", False),
    ("inputs.release", "previous"),
    ("inputs.missing", None),
    ("steps.deploy.outputs.release-id", "20261201-abc"),
    ("steps.deploy.outputs['release-id']", "20261201-abc"),
    ("inputs.only || 'both'", "both"),
    ("inputs.release && 'x'", "x"),
    ("inputs.only && 'x'", ""),
    ("!inputs.only", True),
    ("1 == '1'", True),
    ("'' == 0", True),
    ("null == 0", True),
    ("true == 1", True),
    ("'abc' == 0", False),
    ("3 > 2 && 2 >= 2 && 1 < 2 && 2 <= 2", True),
    ("'b' > 'A'", True),
    ("contains('Hello world', 'WORLD')", True),
    ("contains(fromJSON('[\"a\",\"b\"]'), 'b')", True),
    ("startsWith(github.ref, 'refs/heads/')", True),
    ("endsWith(github.ref, '/MAIN')", True),
    ("format('{0}-{1} {{x}}', 'a', 2)", "a-2 {x}"),
    ("join(fromJSON('[1,2,3]'), '+')", "1+2+3"),
    ("fromJSON('{\"a\": {\"b\": 3}}').a.b", 3.0),
    ("github.event.pull_request.head.repo.full_name == github.repository", False),
    ("inputs.require-reviewed-plan", True),
    ("(1 == 2) || (2 == 2)", True),
    ("'it''s'", "it's"),
    ("0x10", 16.0),
])
def test_evaluate(src, want):
    assert ev(src) == want


def test_nan_comparisons_are_false():
    assert ev("'abc' < 1") is False
    assert ev("'abc' > 1") is False


def test_interpolation_keeps_the_type_of_a_lone_expression():
    env = Env(CTX)
    assert interpolate("${{ inputs.require-reviewed-plan }}", env) is True
    assert interpolate("id=${{ steps.deploy.outputs.release-id }}!", env) == "id=20261201-abc!"
    assert interpolate("${{ 'a}}b' }}", env) == "a}}b"  # `}}` inside a string literal does not close


@pytest.mark.parametrize("src", [
    "github.*.name",  # object filters are not modelled
    "unknown.context",
    "toLower('A')",  # not a GitHub function
    "github.event_name ==",
    "a = b",
])
def test_unsupported_fails_loudly(src):
    with pytest.raises(ExprError):
        ev(src)


def test_an_object_cannot_be_interpolated():
    with pytest.raises(ExprError):
        interpolate("x ${{ github.event }}", Env(CTX))


def test_unterminated_expression():
    with pytest.raises(ExprError):
        interpolate("${{ github.ref ", Env(CTX))


def test_condition_implies_success():
    env_ok = Env(CTX, status=lambda: "success")
    env_bad = Env(CTX, status=lambda: "failure")
    assert condition("github.event_name == 'push'", env_ok)
    assert not condition("github.event_name == 'push'", env_bad)
    assert condition("${{ always() }}", env_bad)
    assert condition("failure() && steps.deploy.outcome == 'failure'", env_bad)
    assert not condition("failure()", env_ok)
    assert condition(None, env_ok) and not condition(None, env_bad)


def test_hash_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "Cargo.lock").write_text("x")
    env = Env(CTX, workspace=str(tmp_path))
    h = evaluate("hashFiles('**/Cargo.lock')", env)
    assert len(h) == 64
    assert evaluate("hashFiles('nothing-*')", env) == ""
    (tmp_path / "a" / "Cargo.lock").write_text("y")
    assert evaluate("hashFiles('**/Cargo.lock')", env) != h
