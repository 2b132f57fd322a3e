"""Label-free combination of weak verifiers (Weaver's label model) and the log-sigmoid reward transform.

Synthetic data with a known truth: y ~ Bernoulli(π); verifier j votes 1 with probability TPR_j when
y = 1 and 1 − TNR_j when y = 0, independently given y (the model's assumption). Every generator is
seeded, so the numbers below are fixed; the margins are wide enough to hold for other seeds and tight
enough that majority vote, or EM that stops at its majority-vote start, would fail them.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from mentor.cli_combine import combine_command
from mentor.errors import InputError, MentorError
from mentor.grade.combine import (
    Balance,
    CombineError,
    fit_combiner,
    log_sigmoid_transform,
    majority_vote,
    reference_quantile,
    score_matrix,
)

# one strong verifier, two useful ones, two near chance
TPR = np.array([0.95, 0.80, 0.75, 0.60, 0.52])
TNR = np.array([0.90, 0.80, 0.70, 0.60, 0.50])


def _binary(seed: int, n: int = 2000, pi: float = 0.35, tpr: np.ndarray = TPR, tnr: np.ndarray = TNR
            ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pi).astype(int)
    p_one = np.where(y[:, None] == 1, tpr, 1 - tnr)
    return (rng.random((n, len(tpr))) < p_one).astype(float), y


def _accuracy(rewards: object, y: np.ndarray) -> float:
    """Accuracy of reward > 0.5 over attempts with a reward; a tie (0.5) scores half, like a coin flip."""
    r = np.array([np.nan if v is None else v for v in rewards], dtype=float)  # type: ignore[attr-defined]
    ok = ~np.isnan(r)
    pred = np.where(r[ok] > 0.5, 1.0, np.where(r[ok] < 0.5, 0.0, 0.5))
    return float(np.mean(np.where(pred == 0.5, 0.5, pred == y[ok])))


def _empirical(votes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The votes' true TPR / TNR against the hidden labels, over non-abstained votes."""
    pos = np.nanmean(votes[y == 1], axis=0)
    neg = np.nanmean(votes[y == 0], axis=0)
    return pos, 1 - neg


@pytest.mark.parametrize("balance", ["estimated", "given"])
def test_label_model_beats_majority_and_recovers_accuracies(balance: str) -> None:
    x, y = _binary(0)
    bal = Balance.estimated() if balance == "estimated" else Balance.given(float(y.mean()))
    c = fit_combiner(x, balance=bal, names=["strong", "good", "fair", "weak", "chance"])
    assert c.converged and c.balance_source == balance
    assert len(c.kept) == 5 and not c.dropped

    votes = c.votes(x)
    lm = _accuracy(c.rewards, y)
    mv = _accuracy(majority_vote(votes), y)
    best = max(float(np.mean(votes[:, j] == y)) for j in range(5))
    assert lm > mv + 0.05, (lm, mv)  # the noisy verifiers drag majority vote down; the model discounts them
    assert lm >= best - 0.01, (lm, best)

    true_tpr, true_tnr = _empirical(votes, y)
    fit_tpr = np.array([v.tpr for v in c.kept])
    fit_tnr = np.array([v.tnr for v in c.kept])
    assert np.max(np.abs(fit_tpr - true_tpr)) < 0.07, (fit_tpr, true_tpr)
    assert np.max(np.abs(fit_tnr - true_tnr)) < 0.07, (fit_tnr, true_tnr)
    assert abs(c.class_balance - y.mean()) < 0.04
    # the ordering of verifiers by quality is what the reward leans on
    assert [v.name for v in sorted(c.kept, key=lambda v: -(v.balanced_accuracy or 0))][:3] == ["strong", "good", "fair"]


def test_continuous_scores_and_normalisation() -> None:
    rng = np.random.default_rng(1)
    n, pi = 2000, 0.3
    y = (rng.random(n) < pi).astype(int)
    d = np.array([3.3, 1.7, 1.3, 0.5, 0.1])  # separations: balanced accuracies ~0.95, 0.8, 0.75, 0.6, 0.52
    raw = rng.normal(0, 1, (n, 5)) + y[:, None] * d
    x = np.column_stack([1 / (1 + np.exp(-raw[:, 0])), raw[:, 1] * 10 + 50, raw[:, 2:]])  # different scales
    mm = fit_combiner(x, balance=Balance.estimated(), normalise="minmax")
    qn = fit_combiner(x, balance=Balance.estimated(), normalise="quantile")
    # a quantile cut is invariant to any monotone normalisation: same votes, same model
    np.testing.assert_array_equal(mm.votes(x), qn.votes(x))
    np.testing.assert_allclose(np.array(mm.rewards, dtype=float), np.array(qn.rewards, dtype=float))
    for v in mm.kept:
        assert 0.0 <= v.threshold <= 1.0  # type: ignore[operator]
        assert abs(v.positive_rate - mm.threshold_balance) < 0.01  # type: ignore[operator]
    assert abs(mm.class_balance - y.mean()) < 0.05
    assert _accuracy(mm.rewards, y) > _accuracy(majority_vote(mm.votes(x)), y) + 0.05
    # the reported raw threshold is the same cut on the verifier's own scale
    v1 = mm.verifiers[1]
    assert np.array_equal(mm.votes(x)[:, 1], (x[:, 1] >= v1.raw_threshold).astype(float))


def test_abstention_is_skipped_not_read_as_zero() -> None:
    x, y = _binary(2)
    rng = np.random.default_rng(3)
    x[rng.random(x.shape) < 0.2] = np.nan  # random abstentions everywhere
    # verifier 1 abstains on 60% of attempts (a parser that reads few answer formats)
    x[rng.random(len(y)) < 0.6, 1] = np.nan
    x[:7] = np.nan  # seven attempts on which every verifier abstained
    c = fit_combiner(x, balance=Balance.estimated())

    silent = np.isnan(x).all(axis=1)  # the seven, and any the random abstentions silenced
    assert silent[:7].all()
    assert [r is None for r in c.rewards] == silent.tolist()  # abstains: not 0, not the prior
    assert _accuracy(c.rewards, y) > _accuracy(majority_vote(c.votes(x)), y) + 0.04

    true_tpr, true_tnr = _empirical(c.votes(x), y)
    assert abs(c.verifiers[1].tpr - true_tpr[1]) < 0.07  # type: ignore[operator]
    assert np.max(np.abs(np.array([v.tnr for v in c.kept]) - true_tnr)) < 0.07
    # reading abstentions as "incorrect" would make verifier 1 look like it rejects most correct attempts.
    # (Skipping the term assumes abstaining says nothing about correctness; see docs/decisions/combine.md.)
    zero = fit_combiner(np.nan_to_num(x, nan=0.0), balance=Balance.estimated())
    assert zero.verifiers[1].tpr < true_tpr[1] - 0.3  # type: ignore[operator]

    # one attempt by hand: the abstaining verifier contributes no factor at all
    row = [1.0, np.nan, 0.0, 1.0, np.nan]
    pi = c.class_balance
    odds = pi / (1 - pi)
    for j, vote in ((0, 1), (2, 0), (3, 1)):
        t, n = c.verifiers[j].tpr, c.verifiers[j].tnr
        odds *= t / (1 - n) if vote else (1 - t) / n  # type: ignore[operator]
    assert c.reward(row) == pytest.approx(odds / (1 + odds), rel=1e-9)
    assert c.reward([1.0, 0.0, 0.0, 1.0, np.nan]) != pytest.approx(c.reward(row))
    assert c.reward([None] * 5) is None


def test_dropped_verifiers_are_reported_and_change_nothing() -> None:
    x, y = _binary(4)
    rng = np.random.default_rng(5)
    lenient = (rng.random(len(y)) < 0.97).astype(float)  # says "correct" to nearly everything
    constant = np.ones(len(y))
    silent = np.full(len(y), np.nan)
    sparse = np.full(len(y), np.nan)
    sparse[:5] = [0, 1, 0, 1, 1]
    wide = np.column_stack([x, lenient, constant, silent, sparse])
    names = ["a", "b", "c", "d", "e", "lenient", "constant", "silent", "sparse"]
    c = fit_combiner(wide, balance=Balance.estimated(), names=names)
    base = fit_combiner(x, balance=Balance.estimated(), names=names[:5])

    reasons = {v.name: v.reason for v in c.dropped}
    assert set(reasons) == {"lenient", "constant", "silent", "sparse"}
    assert re.match(r"positive rate 0\.9\d+ outside \(0\.1, 0\.9\)", reasons["lenient"])
    assert "constant" in reasons["constant"]
    assert "abstained on every attempt" in reasons["silent"]
    assert "only 5 votes" in reasons["sparse"]
    assert all(v.tpr is None for v in c.dropped)
    np.testing.assert_allclose(np.array(c.rewards, dtype=float), np.array(base.rewards, dtype=float))
    # a new attempt's dropped scores are ignored too
    assert c.reward([*x[0], 0.0, 1.0, None, 0.0]) == pytest.approx(base.reward(list(x[0])))

    # tighter bounds drop more
    strict = fit_combiner(wide, balance=Balance.estimated(), names=names, rate_bounds=(0.1, 0.5))
    assert "lenient" in {v.name for v in strict.dropped}


def test_fewer_than_three_usable_verifiers_is_an_error() -> None:
    x, _ = _binary(6)
    with pytest.raises(CombineError) as e:
        fit_combiner(x[:, :2], balance=Balance.estimated())
    msg = e.value.render()
    assert "at least 3 conditionally independent verifiers" in msg and "identifiable" in msg
    assert "Fix:" in msg and e.value.fix
    assert isinstance(e.value, MentorError) and e.value.exit_code == 2

    wide = np.column_stack([x[:, :2], np.ones(len(x)), np.zeros(len(x))])
    with pytest.raises(CombineError, match=r"only 2 of 4 verifiers are usable .*v2: constant score"):
        fit_combiner(wide, balance=Balance.estimated())


def test_degenerate_inputs_raise_clear_errors() -> None:
    x, y = _binary(7, n=200)
    with pytest.raises(InputError, match="2-D"):
        fit_combiner(x[:, 0], balance=Balance.estimated())
    bad = x.copy()
    bad[3, 2] = np.inf
    with pytest.raises(InputError, match="infinite score at row 3, verifier 2"):
        fit_combiner(bad, balance=Balance.estimated())
    with pytest.raises(CombineError, match="only 5 attempts"):
        fit_combiner(x[:5], balance=Balance.estimated())
    with pytest.raises(InputError, match="distinct verifier names"):
        fit_combiner(x, balance=Balance.estimated(), names=["a", "a", "b", "c", "d"])
    with pytest.raises(CombineError, match="strictly between 0 and 1"):
        Balance.given(1.5)
    with pytest.raises(CombineError, match="every dev label is 1"):
        Balance.dev(x[:10], [1] * 10)
    with pytest.raises(CombineError, match="0 or 1"):
        Balance.dev(x[:3], [0, 2, 1])
    with pytest.raises(CombineError, match="dev split has 4 verifiers"):
        fit_combiner(x, balance=Balance.dev(x[:20, :4], y[:20]))
    with pytest.raises(CombineError, match="unknown class balance source"):
        Balance.parse("labels")
    with pytest.raises(CombineError, match="given:"):
        Balance.parse("given:abc")
    assert Balance.parse(" Given:0.25 ") == Balance.given(0.25)


def test_fitted_model_is_reusable_on_new_attempts() -> None:
    x, y = _binary(8, n=3000)
    c = fit_combiner(x[:2000], balance=Balance.estimated(), names=list("abcde"))
    new = c.rewards_for(x[2000:])
    assert _accuracy(new, y[2000:]) > _accuracy(majority_vote(c.votes(x[2000:])), y[2000:]) + 0.04
    assert c.rewards_for(x[:50]) == pytest.approx(c.rewards[:50])
    # a mapping is a row by name; a missing name is an abstention
    assert c.reward(dict(zip("abcde", x[0], strict=True))) == pytest.approx(c.rewards[0])
    assert c.reward({"a": 1.0, "c": 0.0}) == pytest.approx(c.reward([1.0, None, 0.0, None, None]))
    with pytest.raises(InputError, match="unknown verifier 'z'"):
        c.reward({"z": 1.0})
    with pytest.raises(InputError, match="fitted on 5"):
        c.posteriors(x[:3, :4])


def test_dev_balance_fixes_the_prior_and_scores_the_dev_split() -> None:
    x, y = _binary(9, n=2200)
    c = fit_combiner(x[200:], balance=Balance.dev(x[:200], y[:200]))
    assert c.balance_source == "dev"
    assert c.class_balance == pytest.approx(y[:200].mean())
    assert c.dev_n == 200 and c.dev_accuracy is not None and c.dev_accuracy > 0.85
    # verifiers that all score in reverse look, without labels, exactly like good ones with the classes
    # swapped; only labels can tell, and the dev split does
    flipped = fit_combiner(1 - x[200:], balance=Balance.dev(1 - x[:200], y[:200]))
    assert flipped.dev_accuracy is not None and flipped.dev_accuracy < 0.3


def test_score_matrix_from_grade_components() -> None:
    from mentor.types import Grade

    grades = [Grade(score=1.0, components={"judge": 0.9, "regex": 1.0}),
              Grade(score=None, components={"regex": None, "answer": 0.0})]
    x, names = score_matrix([g.components for g in grades])
    assert names == ("judge", "regex", "answer")
    np.testing.assert_array_equal(np.isnan(x), [[False, False, True], [True, True, False]])


def test_log_sigmoid_transform() -> None:
    def log_sigmoid(d: float) -> float:
        return -math.log1p(math.exp(-d))

    # one property, a per-attempt reference
    u = log_sigmoid_transform([2.0, 0.0, -1.0], [0.5, 0.5, 0.5])
    assert u == pytest.approx([log_sigmoid(1.5), log_sigmoid(-0.5), log_sigmoid(-1.5)])
    # soft AND: equal raw sums, but the attempt good in both properties beats the lopsided one
    lopsided, even = log_sigmoid_transform([[6.0, -2.0], [2.0, 2.0]], 0.0)
    assert lopsided < even  # type: ignore[operator]
    assert lopsided == pytest.approx(log_sigmoid(6.0) + log_sigmoid(-2.0))
    # saturation above the reference, linear cost far below it, no overflow
    hi, lo = log_sigmoid_transform([50.0, -1000.0], 0.0)
    assert -1e-12 < hi <= 0.0 and lo == pytest.approx(-1000.0)  # type: ignore[operator]
    # a missing property or reference abstains instead of counting as 0
    assert log_sigmoid_transform([[1.0, None], [1.0, 1.0]], [0.0, math.nan]) == (None, None)
    with pytest.raises(InputError, match="2 entries for 3 attempts"):
        log_sigmoid_transform([1.0, 2.0, 3.0], [0.0, 0.0])

    # per-prompt references: a quantile of each prompt's base-policy rewards, None ignored
    ref = reference_quantile([[0.0, 1.0, 2.0, None], [5.0], [None]], quantile=0.5)
    assert ref[0] == pytest.approx(1.0) and ref[1] == pytest.approx(5.0) and math.isnan(ref[2])
    per_property = reference_quantile([[[0.0, 10.0], [2.0, 20.0]]], quantile=1.0)
    assert per_property.tolist() == [[2.0, 20.0]]


# ---------------------------------------------------------------------------------------------------
# CLI


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("combine")(combine_command)
    app.command("noop")(lambda: None)  # a second command keeps "combine" a named subcommand
    return app


def _write_attempts(path: Path, n: int = 400, seed: int = 10, labelled: int = 0) -> np.ndarray:
    x, y = _binary(seed, n=n)
    names = ["strong", "good", "fair", "weak", "chance"]
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        scores: dict[str, float | None] = {k: float(v) for k, v in zip(names, x[i], strict=True)}
        if rng.random() < 0.1:
            scores["fair"] = None  # abstained
        scores["format"] = 1.0  # passes everything: dropped
        if i == 0:
            scores = {k: None for k in scores}  # every verifier abstained
        row: dict[str, object] = {"id": f"a{i}", "scores": scores}
        if i < labelled:
            row["label"] = int(y[i])
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return y


def test_cli_combine_writes_rewards_and_prints_verifiers(tmp_path: Path) -> None:
    inp, out = tmp_path / "scores.jsonl", tmp_path / "rewards.jsonl"
    y = _write_attempts(inp)
    res = CliRunner().invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "estimated"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"a{i}" for i in range(400)]
    assert rows[0]["reward"] is None  # abstained, written as null
    assert all(0.0 <= r["reward"] <= 1.0 for r in rows[1:])
    assert _accuracy([r["reward"] for r in rows], y) > 0.85
    assert "format" in res.output and "dropped" in res.output and "kept" in res.output
    assert "TPR" in res.output and "estimated" in res.output and "1 abstained" in res.output


def test_cli_combine_dev_and_given_balance(tmp_path: Path) -> None:
    inp = tmp_path / "scores.jsonl"
    _write_attempts(inp, labelled=80)
    runner = CliRunner()
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
                                 "--balance", "dev", "--normalise", "quantile"])
    assert res.exit_code == 0, res.output
    assert "(dev)" in res.output and "dev split: accuracy" in res.output
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
                                 "--balance", "given:0.35"])
    assert res.exit_code == 0, res.output
    assert "0.350 (given)" in res.output


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "not valid JSON"),
    ('["a"]', "must be a JSON object"),
    ('{"scores": {"a": 1}}', "missing key 'id'"),
    ('{"id": "x", "scores": []}', "missing key 'scores'"),
    ('{"id": "x", "scores": {"a": "high"}}', "score of verifier 'a' is \"high\""),
    ('{"id": "x", "scores": {"a": true}}', "score of verifier 'a' is true"),
    ('{"id": "x", "scores": {"a": NaN}}', "not a finite number"),
    ('{"id": "x", "scores": {"a": 1}, "label": 2}', "label is 2"),
    ('{"id": "a1", "scores": {"a": 1}}', "duplicate id 'a1' (first on line 2)"),
])
def test_cli_bad_line_names_file_line_and_fix(tmp_path: Path, line: str, message: str) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text('{"id": "a0", "scores": {"a": 1}}\n{"id": "a1", "scores": {"a": 0}}\n\n' + line + "\n")
    res = CliRunner().invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "estimated"])
    assert isinstance(res.exception, InputError), res.output
    assert res.exception.where == f"{inp}:4"
    assert message in res.exception.message and res.exception.fix
    assert not out.exists()  # nothing written


def test_cli_errors_before_reading_and_model_errors_name_the_file(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    runner = CliRunner()
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "dev2"])
    assert isinstance(res.exception, CombineError) and res.exception.where == "--balance"
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "estimated"])
    assert isinstance(res.exception, InputError) and "not found" in res.exception.message
    inp.write_text("".join(json.dumps({"id": i, "scores": {"a": i % 2, "b": (i // 2) % 2}}) + "\n" for i in range(40)))
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "estimated"])
    assert isinstance(res.exception, CombineError) and res.exception.where == str(inp)
    assert "at least 3 conditionally independent" in res.exception.message
    res = runner.invoke(_app(), ["combine", "--input", str(inp), "--output", str(out), "--balance", "dev"])
    assert isinstance(res.exception, InputError) and "no line has a 'label'" in res.exception.message


def test_cli_exit_code_2_without_traceback(tmp_path: Path) -> None:
    """Through the real entry point (`mentor.cli.main`), with the command mounted the way cli.py will."""
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "scores": {"v": 1}}\n{"id": "b", "scores": {"v": "x"}}\n')
    code = ("import sys; from mentor import cli; from mentor.cli_combine import combine_command; "
            "cli.app.command('combine')(combine_command); cli.main(sys.argv[1:])")
    proc = subprocess.run(
        [sys.executable, "-c", code, "combine", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
         "--balance", "estimated"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{inp}:2" in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
