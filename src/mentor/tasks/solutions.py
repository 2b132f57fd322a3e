"""Worked reference solutions for reasoning-gym families whose entries carry the facts to write one.

reasoning-gym entries give the answer, not the working. A hint that shows part of a solution (the
ladder's `prefix` rungs, the QuestA-style `prefix_hints` baseline) and a worked example need the
working, one step per line, so that a prefix is a prefix of the reasoning. Each writer builds it from
the entry's metadata alone (never from the model) and ends with the answer; a family without a writer
keeps `Task.solution` unset, except that arithmetic generators' recorded expression gives
"expression = answer".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _gcd_steps(meta: Mapping[str, Any]) -> str | None:
    """Euclid's algorithm, pair by pair: gcd(a, b, c) = gcd(gcd(a, b), c)."""
    numbers = [int(n) for n in meta.get("numbers", [])]
    if len(numbers) < 2 or any(n <= 0 for n in numbers):
        return None
    lines = ["Use Euclid's algorithm: divide, keep the remainder, repeat until it is 0."]
    g = numbers[0]
    for n in numbers[1:]:
        a, b = max(g, n), min(g, n)
        lines.append(f"gcd({a}, {b}):")
        while b:
            q, r = divmod(a, b)
            lines.append(f"{a} = {q} × {b} + {r}")
            a, b = b, r
        g = a
        lines.append(f"The last nonzero remainder is {g}.")
    lines.append(f"So the GCD is {g}.")
    return "\n".join(lines)


def _bits_steps(meta: Mapping[str, Any]) -> str | None:
    binary, number = meta.get("binary"), meta.get("number")
    if not isinstance(binary, str) or number is None:
        return None
    ones = binary.count("1")
    return "\n".join([f"Write {number} in binary: {binary}.",
                      f"Its digits one by one: {' '.join(binary)}.",
                      f"Count the digits that are 1: {' + '.join(['1'] * ones) or '0'} = {ones}."])


def _letter_steps(meta: Mapping[str, Any]) -> str | None:
    words, letter = meta.get("span"), meta.get("target_letter")
    if not isinstance(words, list) or not isinstance(letter, str):
        return None
    counts = [sum(ch.lower() == letter.lower() for ch in str(w)) for w in words]
    lines = [f'Count the letter "{letter}" in each word:']
    lines += [f"{w}: {c}" for w, c in zip(words, counts, strict=True)]
    lines.append(f"Add them up: {' + '.join(map(str, counts))} = {sum(counts)}.")
    return "\n".join(lines)


WRITERS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "gcd": _gcd_steps,
    "count_bits": _bits_steps,
    "letter_counting": _letter_steps,
}


def worked_solution(dataset: str, entry: Mapping[str, Any]) -> str | None:
    """A worked solution of a reasoning-gym entry, or None when the family has no writer or the entry
    lacks what it needs. The arithmetic generators' recorded expression gives "expression = answer"."""
    meta = entry.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    writer = WRITERS.get(dataset)
    if writer is not None:
        return writer(meta)
    expression = meta.get("expression")
    return f"{expression} = {entry['answer']}" if isinstance(expression, str) else None
