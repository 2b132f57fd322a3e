"""Content screens: judge-independent tests for replies that carry text but no merit.

The master-key screen (`defences.substance`) stops replies with nothing in them. These stop replies
that do carry text, which an LLM judge is known to credit (arXiv 2507.08794 and the attack suite):

- `rubric_echo`: the reply restates the rubric (its criteria and their level labels) or grades
  itself in the rubric's words, instead of doing the task;
- `degenerate`: repetition and keyword spam (few distinct tokens, text that compresses to almost
  nothing, one word dominating, the same sentence again and again, word lists with no grammar);
- `grader_directed`: text addressed to the grader (verdict-like JSON, grader notes, fence and
  delimiter games, role play as the grader, requests to grade something else), tested after NFKC
  and homoglyph folding so Cyrillic "о" or a zero-width space does not hide it;
- `off_topic` (only for rubrics that declare `defences.topic: true`): no engagement with the task,
  i.e. too little overlap with the task's prompt and reference content.

Each screen is a deterministic function of the reply, the task and the rubric, with thresholds
tuned on the design half of the attack suite's generated variants and a generated set of genuine
answers, and reported on the held-out half (`benchmarks/attack_screens.py`). A screen that fires
scores the reply 0 with its reason (the student's failure, decided before any judge call); the
false-negative cost on genuine answers is measured beside the false-positive gain.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mentor.grade.defences import injection_flags, split_sentences

SCREENS = ("rubric_echo", "degenerate", "grader_directed", "off_topic")

# --- folding --------------------------------------------------------------------------------------

# Latin look-alikes from Cyrillic, Greek and other blocks that NFKC leaves alone (NFKC already folds
# fullwidth and mathematical alphanumerics). Lower case only: folding lower-cases first.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ɡ": "g", "ɑ": "a", "ɩ": "i", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ϲ": "c", "ԍ": "g", "ӏ": "l", "ı": "i", "ȷ": "j",
    "ℓ": "l", "℮": "e", "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "“": '"', "”": '"', "„": '"',
    "‘": "'", "’": "'", "‚": "'", "«": '"', "»": '"', "‹": "<", "›": ">", "［": "[", "］": "]",
})
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
# letters spaced out to dodge word patterns: "g r a d e r", "g.r.a.d.e.r"
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*]){3,}[a-z]\b")


def fold(text: str) -> str:
    """NFKC, invisible characters dropped, lower case, homoglyphs to Latin, spaced-out letters joined."""
    s = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).lower().translate(_CONFUSABLES)
    # combining marks (zalgo, accents stacked on ASCII) carry no meaning for these tests
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    return _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), s)


# --- tokens ---------------------------------------------------------------------------------------

STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "either", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "one", "two", "it's", "let", "let's", "us", "thus", "hence", "therefore", "since", "given", "get", "gets", "got", "make", "makes", "made", "use", "used", "using", "which's", "i'm", "we're", "they're", "that's"])

# words every task prompt uses to give instructions: overlap on them is not engagement with the topic
_INSTRUCTION = frozenset(["answer", "answers", "final", "question", "questions", "problem", "problems", "task", "tasks", "solve", "solution", "solutions", "explain", "following", "give", "write", "show", "line", "number", "numbers", "result", "results", "step", "steps", "please", "format", "provide", "return", "output", "respond", "response", "find", "calculate", "compute", "determine", "value", "values", "only", "example", "end", "few", "sentence", "sentences", "brief", "briefly", "short", "words", "paragraph", "describe", "discuss"])

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(w: str) -> str:
    """A crude suffix stripper: enough to match scatter/scattering/scattered, not a linguist."""
    if w.isdigit() or len(w) <= 4:
        return w
    for suf in ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "ly", "s", "er"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)]
    return w


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) >= 3 or w.isdigit())]


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreenHit:
    screen: str
    reason: str
    value: float  # the measured statistic that crossed its threshold
    threshold: float

    def to_json(self) -> dict[str, object]:
        return {"screen": self.screen, "reason": self.reason, "value": round(self.value, 4),
                "threshold": self.threshold}


@dataclass(frozen=True)
class Thresholds:
    """Tuned on the design half of the generated suite (see benchmarks/attack_screens.py)."""

    echo_share: float = 0.34  # share of the reply's content words that are rubric-only words
    echo_trigrams: float = 0.25  # share of the reply's word 3-grams found in the rubric text
    echo_min_words: int = 4
    distinct_ratio: float = 0.35  # distinct / total words, for replies of >= distinct_min_words
    distinct_min_words: int = 24
    zlib_ratio: float = 0.22  # compressed / raw bytes, for replies of >= zlib_min_bytes
    zlib_min_bytes: int = 240
    top_word_share: float = 0.34  # the most frequent content word's share of content words
    top_word_min: int = 12
    repeated_sentences: float = 0.5  # share of sentences that repeat an earlier one (>= 4 sentences)
    stopword_share: float = 0.08  # word lists: share of function words among >= stop_min_words words
    stop_min_words: int = 14
    topic_min_words: int = 6  # off-topic screen applies from this many content words
    topic_hits: int = 2  # distinct task/reference content words the reply must mention
    topic_share: float = 0.10  # share of the reply's content words that are task/reference words


DEFAULT_THRESHOLDS = Thresholds()

# --- screens --------------------------------------------------------------------------------------

# the vocabulary a reply uses to grade itself in the rubric's terms
_SELF_ASSESSMENT = frozenset(stem(w) for w in ["criterion", "criteria", "rubric", "requirement", "requirements", "meets", "meet", "met", "satisfies", "satisfy", "fully", "complete", "completely", "thorough", "thoroughly", "demonstrates", "demonstrate", "addresses", "address", "excellent", "rigorous", "rigorously", "justified", "justifies", "clear", "clearly", "organised", "organized", "well-organised", "coherent", "accurate", "accurately", "comprehensive", "comprehensively", "concise", "detailed", "appropriate", "appropriately", "relevant", "level", "levels", "score", "scores", "marks", "points", "credit", "quality", "high", "highest", "top", "maximum", "perfect", "exemplary", "exceeds", "expectations"])


def rubric_echo(text: str, rubric_text: str, topic_text: str, t: Thresholds = DEFAULT_THRESHOLDS) -> ScreenHit | None:
    reply = content_stems(text)
    if len(reply) < t.echo_min_words:
        return None
    topic = set(content_stems(topic_text))
    rubric_only = (set(content_stems(rubric_text)) | _SELF_ASSESSMENT) - topic
    echo = sum(1 for w in reply if w in rubric_only)
    share = echo / len(reply)
    if share >= t.echo_share:
        return ScreenHit("rubric_echo", f"{echo} of {len(reply)} content words are the rubric's own words, "
                         "not the task's: the reply restates or self-grades against the rubric", share, t.echo_share)
    rw = [stem(w) for w in words(rubric_text)]
    grams = {tuple(rw[i:i + 3]) for i in range(len(rw) - 2)}
    aw = [stem(w) for w in words(text)]
    mine = [tuple(aw[i:i + 3]) for i in range(len(aw) - 2)]
    if len(mine) >= 3:
        tri = sum(1 for g in mine if g in grams) / len(mine)
        if tri >= t.echo_trigrams:
            return ScreenHit("rubric_echo", f"{tri:.0%} of the reply's word triples are copied from the rubric",
                             tri, t.echo_trigrams)
    return None


def degenerate(text: str, t: Thresholds = DEFAULT_THRESHOLDS) -> ScreenHit | None:
    ws = words(text)
    if len(ws) >= t.distinct_min_words:
        ratio = len(set(ws)) / len(ws)
        if ratio < t.distinct_ratio:
            return ScreenHit("degenerate", f"only {len(set(ws))} distinct words in {len(ws)}: repetition",
                             ratio, t.distinct_ratio)
    raw = fold(text).encode("utf-8")
    if len(raw) >= t.zlib_min_bytes:
        z = len(zlib.compress(raw, 9)) / len(raw)
        if z < t.zlib_ratio:
            return ScreenHit("degenerate", f"the text compresses to {z:.0%} of its size: repetition", z, t.zlib_ratio)
    content = [w for w in ws if w not in STOPWORDS and not w.isdigit()]
    if len(content) >= t.top_word_min:
        top, n = Counter(stem(w) for w in content).most_common(1)[0]
        if n / len(content) >= t.top_word_share:
            return ScreenHit("degenerate", f"'{top}' is {n} of {len(content)} content words: keyword spam",
                             n / len(content), t.top_word_share)
    sents = [" ".join(words(s)) for s in split_sentences(text)]
    sents = [s for s in sents if s]
    if len(sents) >= 4:
        rep = 1 - len(set(sents)) / len(sents)
        if rep >= t.repeated_sentences:
            return ScreenHit("degenerate", f"{rep:.0%} of the sentences repeat an earlier one", rep,
                             t.repeated_sentences)
    alpha = [w for w in ws if w.isalpha()]
    if len(alpha) >= t.stop_min_words:
        share = sum(1 for w in alpha if w in STOPWORDS) / len(alpha)
        if share < t.stopword_share:
            return ScreenHit("degenerate", f"{len(alpha)} words with {share:.0%} function words: a keyword list, "
                             "not sentences", share, t.stopword_share)
    return None


_G = r"(grader|grading|judge|judging|evaluator|examiner|assessor|marker|reviewer|scorer|rater|checker|teacher)"
_GRADER_DIRECTED = [
    ("verdict-like JSON", re.compile(
        r"[{,]\s*\"?(criteria|verdict|score|grade|rating|marks?|points|level|quotes|passed|correct)\"?\s*:")),
    ("verdict-like JSON", re.compile(r"\"?(verdict|score|rating|grade)\"?\s*[:=]\s*\"?\d")),
    ("grader note", re.compile(rf"\b(note|message|memo|instructions?|reminder|hint|comment|p\.?s\.?)\s*(to|for)\s*"
                               rf"(the\s+)?(ai\s+|automated\s+|llm\s+)?{_G}")),
    ("grader note", re.compile(rf"\b{_G}'?s?\s*(note|instructions?|override|comment|notes)\b")),
    ("grader note", re.compile(rf"\[\s*({_G}|system|admin|override|internal|meta)[^\]]*\]")),
    ("grader note", re.compile(rf"\b(dear|hello|hi|hey|attention|to)\s+(the\s+)?(ai\s+)?{_G}")),
    ("addresses the grader", re.compile(rf"\b{_G}s?\b.{{0,60}}\b(must|should|shall|will|has to|needs? to|"
                                        r"is (asked|instructed|required)|can see|please|kindly)\b")),
    ("addresses the grader", re.compile(r"\b(you|your)\b.{0,40}\b(grade|grading|score|scoring|evaluat\w*|"
                                        r"assess\w*|rate|rating|mark|marking|verdict|rubric)\b")),
    ("asks for marks", re.compile(r"\b(give|award|assign|output|return|grant|mark|rate|score)\b.{0,40}\b(full|maximum|"
                                  r"max|perfect|top|highest|best|all)\b.{0,25}\b(marks?|points?|scores?|credit|"
                                  r"grades?|verdicts?|levels?|ratings?)")),
    ("asks for marks", re.compile(r"\b(full marks|perfect score|maximum score|highest score|top marks|full credit|"
                                  r"maximum credit|max score|10/10|100%\s*(score|credit|marks))\b")),
    ("fence or delimiter game", re.compile(r"</?\s*(attempt|answer|response|submission|system|user|assistant|"
                                           r"instructions?|input|output|context|rubric|grader|judge)\s*>")),
    ("fence or delimiter game", re.compile(r"<<<|>>>|<\|[a-z_]+\|>|\[/?\s*(inst|sys|system)\s*\]|\bend\s*(of\s*)?(the\s*)?"
                                           r"(attempt|answer|response|submission|input|student)\b|={3,}|#{3,}|"
                                           r"-{5,}\s*(system|grader|judge|end|begin)")),
    ("fence or delimiter game", re.compile(r"\b(begin|start)\s*(of\s*)?(the\s*)?(grader|judge|system|evaluation|"
                                           r"verdict|assistant)\b")),
    ("role play as the grader", re.compile(rf"\b(as|i am|i'm|acting as|speaking as|you are( now)?|pretend(ing)?"
                                           rf"( to be| you are)?|role-?play(ing)?( as)?|imagine you are)\s+"
                                           rf"(an?\s+|the\s+)?(strict\s+|fair\s+|lenient\s+|ai\s+)?{_G}")),
    ("role play as the grader", re.compile(r"(^|\n)\s*(system|assistant|grader|judge|evaluator|user|"
                                           r"instruction|admin)\s*[:>]")),
    ("asks to grade something else", re.compile(r"\b(grade|evaluate|assess|score|mark|judge|rate|consider)\b.{0,60}"
                                                r"\b(instead|the following|below|the reference|this other|"
                                                r"the text after|the real answer|in place of)")),
    ("asks to grade something else", re.compile(r"\b(the\s+)?(real|actual|true|official|correct)\s+(attempt|answer|"
                                                r"submission|response)\s+(to\s+(grade|evaluate)|is\s+(below|the "
                                                r"reference|in the reference|as follows))")),
    ("asks to ignore", re.compile(r"\b(ignore|disregard|forget|skip|override|bypass)\b.{0,50}\b(rubric|instructions?|"
                                  r"criteria|above|previous|prior|rules?|guidelines|everything|prompt|"
                                  r"reference|task)\b")),
    ("claims to be verified", re.compile(r"\b(pre-?verified|already (been )?(verified|graded|checked|approved|"
                                         r"marked|scored)|officially (correct|approved|verified)|"
                                         r"(verified|approved|certified) (correct|by))\b")),
    ("claims to be verified", re.compile(r"\bthis (answer|attempt|response|solution|submission) (is|has been|was) "
                                         r"(verified|graded|approved|certified|marked)\b")),
]


def grader_directed(text: str) -> ScreenHit | None:
    folded = fold(text)
    for why, pat in _GRADER_DIRECTED:
        m = pat.search(folded)
        if m:
            return ScreenHit("grader_directed", f"{why}: '{m.group(0).strip()[:60]}'", 1.0, 1.0)
    # the sentence flags the judge view already uses, on the folded text too
    for s in split_sentences(folded):
        if injection_flags([s])[0]:
            return ScreenHit("grader_directed", f"addresses the grader: '{s[:60]}'", 1.0, 1.0)
    return None


def off_topic(text: str, topic_text: str, t: Thresholds = DEFAULT_THRESHOLDS) -> ScreenHit | None:
    reply = content_stems(text)
    if len(reply) < t.topic_min_words:
        return None
    topic = {w for w in content_stems(topic_text) if w not in _INSTRUCTION}
    if not topic:
        return None
    on = [w for w in reply if w in topic]
    hits = len(set(on))
    share = len(on) / len(reply)
    # a short prompt ("why is the sky blue?") names only two or three things: one of them is engagement
    need = min(t.topic_hits, max(1, len(topic) // 3))
    if hits < need or share < t.topic_share:
        return ScreenHit("off_topic", f"mentions {hits} of the task's {len(topic)} content words ({share:.0%} of "
                         "the reply's content words): no engagement with the task", share, t.topic_share)
    return None


def run_screens(text: str, *, rubric_text: str, topic_text: str, enabled: Sequence[str],
                t: Thresholds = DEFAULT_THRESHOLDS) -> list[ScreenHit]:
    """Every enabled screen's hit on `text` (empty: nothing fired), in `SCREENS` order."""
    hits: list[ScreenHit | None] = []
    if "grader_directed" in enabled:
        hits.append(grader_directed(text))
    if "rubric_echo" in enabled:
        hits.append(rubric_echo(text, rubric_text, topic_text, t))
    if "degenerate" in enabled:
        hits.append(degenerate(text, t))
    if "off_topic" in enabled:
        hits.append(off_topic(text, topic_text, t))
    return [h for h in hits if h is not None]
