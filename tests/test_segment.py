"""Step segmentation: steps map to exact token ranges, also for tokenisers that merge whitespace."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest

from mentor.errors import ConfigError, MentorError
from mentor.teacher.credit.segment import SEGMENTERS, char_boundaries, decode_prefix_ends
from mentor.types import StepSpan

tokenizers = pytest.importorskip("tokenizers")


class CharTokenizer:
    """One token per character; id 0 is a special EOS token that decodes to nothing."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return "".join("" if i == 0 and skip_special_tokens else chr(i) for i in ids)


class ByteTokenizer:
    """One token per UTF-8 byte: a multi-byte character is split over several tokens."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


CORPUS = [
    "Step 1: add 2 and 3.\n\nStep 2: multiply by 4.\n\nThe answer is 20.",
    "1. First we read the question.\n2. Then we think.\n\nSo x = 5. Done!",
    "We add the numbers. Then we check.\nThe answer is 7.\n\n\nFinal answer: 7",
] * 10


@cache
def bpe(use_regex: bool, vocab_size: int) -> Any:
    """A tiny byte-level BPE trained offline. With use_regex (GPT-2 style) whitespace is split off
    and words carry a leading space (" Step"); without it merges run across spaces and newlines."""
    t = tokenizers
    tok = t.Tokenizer(t.models.BPE())
    tok.pre_tokenizer = t.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)
    tok.decoder = t.decoders.ByteLevel()
    trainer = t.trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=t.pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<eos>"],
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def check_cover(spans: list[StepSpan], n_tokens: int, decoded: str) -> None:
    """Every token in exactly one span, spans in order, texts concatenating to the decoded text."""
    assert spans[0].start == 0 and spans[-1].end == n_tokens
    for k, s in enumerate(spans):
        assert s.index == k and s.start < s.end
        if k:
            assert s.start == spans[k - 1].end
    assert "".join(s.text for s in spans) == decoded


def test_char_tokenizer_blank_lines_exact_ranges() -> None:
    text = "a b\n\nc d\n \n e\n\n"
    ids = [*CharTokenizer().encode(text), 0]  # EOS: zero-width, belongs to the last step
    spans = SEGMENTERS.build("blank_lines").spans(text, ids, CharTokenizer())
    assert [(s.start, s.end, s.text) for s in spans] == [
        (0, 5, "a b\n\n"),
        (5, 12, "c d\n \n "),
        (12, 16, "e\n\n"),
    ]
    check_cover(spans, len(ids), text)


@pytest.mark.parametrize(
    ("name", "text", "steps"),
    [
        ("lines", "x = 1\ny = 2\n\nz = 3", ["x = 1\n", "y = 2\n\n", "z = 3"]),
        (
            "numbered",
            "Plan:\n1. read\n2) add\nStep 3: done",
            ["Plan:\n", "1. read\n", "2) add\n", "Step 3: done"],
        ),
        (
            "sentences",
            "We add 2.5 and 1. Then check! Done?  Yes",
            ["We add 2.5 and 1. ", "Then check! ", "Done?  ", "Yes"],
        ),
        ("blank_lines", "only one step", ["only one step"]),
    ],
)
def test_named_segmenters_char_level(name: str, text: str, steps: list[str]) -> None:
    ids = CharTokenizer().encode(text)
    spans = SEGMENTERS.build(name).spans(text, ids, CharTokenizer())
    assert [s.text for s in spans] == steps
    check_cover(spans, len(ids), text)


def test_regex_segmenter_from_config() -> None:
    text = "a\n---\nb\n---\nc"
    seg = SEGMENTERS.build("regex", {"pattern": r"\n---\n"})
    spans = seg.spans(text, CharTokenizer().encode(text), CharTokenizer())
    assert [s.text for s in spans] == ["a\n---\n", "b\n---\n", "c"]
    assert seg.args == {"pattern": r"\n---\n", "at": "end"}
    start = SEGMENTERS.build("regex", {"pattern": "(?m)^#", "at": "start"})
    assert [s.text for s in start.spans("#a\n#b", CharTokenizer().encode("#a\n#b"), CharTokenizer())] == [
        "#a\n",
        "#b",
    ]


def test_partial_utf8_tokens_stay_with_their_character() -> None:
    # "→" is three byte tokens; decoding a prefix that ends inside it gives U+FFFD, which must not
    # shift the offsets of what follows.
    text = "go →\n\n→ back"
    ids = ByteTokenizer().encode(text)
    decoded, ends = decode_prefix_ends(ids, ByteTokenizer())
    assert decoded == text and ends[-1] == len(text)
    assert ends[3:6] == [3, 3, 4]  # the first two bytes of the arrow commit no character yet
    spans = SEGMENTERS.build("blank_lines").spans(text, ids, ByteTokenizer())
    assert [s.text for s in spans] == ["go →\n\n", "→ back"]
    assert spans[0].end == len("go →\n\n".encode())
    check_cover(spans, len(ids), text)


def test_gpt2_style_bpe_steps_match_characters() -> None:
    tok = bpe(True, 400)
    text = "Step 1: add 2 and 3.\n\nStep 2: multiply → 4.\n\nThe answer is 20."
    ids = tok.encode(text).ids
    assert any(tok.id_to_token(i).startswith("Ġ") and len(tok.id_to_token(i)) > 1 for i in ids)
    spans = SEGMENTERS.build("blank_lines").spans(text, ids, tok)
    assert [s.text for s in spans] == [
        "Step 1: add 2 and 3.\n\n",
        "Step 2: multiply → 4.\n\n",
        "The answer is 20.",
    ]
    check_cover(spans, len(ids), text)
    # The token boundaries are the ones the tokenizer itself reports.
    offsets = tok.encode(text).offsets
    assert [offsets[s.start][0] for s in spans] == [0, text.index("Step 2"), text.index("The")]


def test_gpt2_style_bpe_leading_space_token_opens_its_step() -> None:
    # "ĠThen" starts with the space that ends the previous sentence: it opens the sentence it names.
    tok = bpe(True, 400)
    text = "We add the numbers. Then we check.\nThe answer is 7.\n\n\nFinal answer: 7"
    ids = tok.encode(text).ids
    assert "ĠThen" in [tok.id_to_token(i) for i in ids] and "ĊĊ" in [tok.id_to_token(i) for i in ids]
    spans = SEGMENTERS.build("sentences").spans(text, ids, tok)
    assert [s.text for s in spans] == [
        "We add the numbers.",
        " Then we check.\n",
        "The answer is 7.\n\n\n",
        "Final answer: 7",
    ]
    check_cover(spans, len(ids), text)


@pytest.mark.parametrize("name", ["blank_lines", "lines", "numbered", "sentences"])
@pytest.mark.parametrize("text", CORPUS[:3])
def test_merged_whitespace_bpe_follows_first_non_space_rule(name: str, text: str) -> None:
    """Tokens such as ".\\n\\nSte" straddle a step break: the token goes to the step holding its
    first non-whitespace character. Checked against the tokenizer's own character offsets."""
    tok = bpe(False, 300)
    enc = tok.encode(text)
    pieces = [tok.id_to_token(i) for i in enc.ids]
    assert any("Ċ" in p and len(p.strip("Ċ")) > 0 for p in pieces)  # whitespace merged into words
    seg = SEGMENTERS.build(name)
    spans = seg.spans(text, enc.ids, tok)
    check_cover(spans, len(enc.ids), text)
    assert decode_prefix_ends(enc.ids, tok)[1] == [e for _, e in enc.offsets]

    cuts = [0, *char_boundaries(text, re.compile(seg.args["pattern"]), seg.args["at"])]

    def step_of(char: int) -> int:
        return max(k for k, c in enumerate(cuts) if c <= char)

    owners = []
    for a, b in enc.offsets:
        piece = text[a:b]
        lead = len(piece) - len(piece.lstrip())
        owners.append(step_of(a + (lead if lead < len(piece) else 0)))
    got = [0] * len(enc.ids)
    for s in spans:
        for t in range(s.start, s.end):
            got[t] = s.index
    # Same partition (steps that lost every token are dropped and renumbered).
    assert [owners[t] != owners[t - 1] for t in range(1, len(owners))] == [
        got[t] != got[t - 1] for t in range(1, len(got))
    ]


def test_empty_completion_and_errors() -> None:
    assert SEGMENTERS.build("lines").spans("", (), CharTokenizer()) == []
    with pytest.raises(MentorError, match="tokenizer"):
        SEGMENTERS.build("lines").spans("a", (97,), None)
    with pytest.raises(ConfigError, match="blank_lines"):
        SEGMENTERS.build("paragraphs")
    with pytest.raises(ConfigError, match="invalid regex"):
        SEGMENTERS.build("regex", {"pattern": "("})
    with pytest.raises(ConfigError):
        SEGMENTERS.build("regex", {})
    with pytest.raises(ConfigError):
        SEGMENTERS.build("lines", {"pattern": "x"})
    assert SEGMENTERS.names() == ["blank_lines", "lines", "numbered", "regex", "sentences"]


def test_hf_tokenizer_wrapper_with_eos() -> None:
    # The loop passes a transformers tokenizer: same spans, EOS a zero-width token of the last step.
    transformers = pytest.importorskip("transformers")
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe(True, 400), eos_token="<eos>")
    text = "Step 1: add 2 and 3.\n\nStep 2: multiply → 4.\n\nThe answer is 20."
    ids = [*hf(text)["input_ids"], hf.eos_token_id]
    spans = SEGMENTERS.build("numbered").spans(text, ids, hf)
    # Text after the last numbered step (the conclusion) stays in that step.
    assert [s.text for s in spans] == [
        "Step 1: add 2 and 3.\n\n",
        "Step 2: multiply → 4.\n\nThe answer is 20.",
    ]
    assert spans[-1].end == len(ids)
    check_cover(spans, len(ids), text)
