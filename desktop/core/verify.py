"""Check every claim of a written section against the passages it cites (Qt-free, no I/O).

A section's Markdown is split into claims: sentences of paragraphs and list items, and the rows
of tables (fenced code, display math and table headers are not claims). A citation belongs to
the sentence it stands in; one placed right after a sentence's full stop still belongs to that
sentence. Each claim is scored against all of its cited passages:

- content-word coverage: the share of the claim's content words (lightly stemmed) found in the
  cited passages, and the share of its consecutive content-word pairs found there;
- named terms: identifiers, capitalised names, `code` and \\commands must appear;
- numbers, dates and units must appear in a cited passage (a changed number is a hard failure);
- polarity: a negation in the claim that the matching passage sentence lacks (or the reverse);
- optionally the cosine similarity of claim and evidence span from the library's embedder;
- optionally a grammar-constrained yes/no entailment call to the run's model (budgeted).

Each claim gets `supported`, `partial`, `unsupported` or `uncited` (a factual sentence with no
citation) and the evidence span that matched best. The thresholds below were calibrated on the
labelled claim set from Debian's manuals (bench/bench_verify.py), not chosen by eye.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from desktop.core.evidence import Passage

log = logging.getLogger(__name__)

SUPPORTED, PARTIAL, UNSUPPORTED, UNCITED = "supported", "partial", "unsupported", "uncited"
VERDICTS = (SUPPORTED, PARTIAL, UNSUPPORTED, UNCITED)
FLAGGED = frozenset({PARTIAL, UNSUPPORTED, UNCITED})

# Calibrated with `bench/bench_verify.py --calibrate` on the calibration half of the claim set
# (bench/data/verify_claims.jsonl): `supported` is the highest score threshold that flags at most
# 2.5% of true claims there (hard failures included); below `partial` lie 95% of the scores of
# claims cited to a wrong passage. The score mixes differently with and without the embedder,
# so each has its own pair.
LEXICAL = (0.556, 0.129)  # (supported, partial) from words, numbers and polarity alone
EMBEDDING = (0.689, 0.147)  # with the library's embedder
# The model judge is asked only about claims scored in this band (where it can change a verdict).
JUDGE_BAND = (0.08, 0.75)

CITE_RE = re.compile(r"\\cite\{([^}]*)\}")
_CITE_WITH_SPACE = re.compile(r"\s*\\cite\{[^}]*\}")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_QUOTE_MARK = re.compile(r"^\s*>\s?")
_HEADING_MARK = re.compile(r"^\s*#{1,6}\s+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(?=\S)(.+?)(?<=\S)\1")
# A sentence ends at . ! ? (and CJK 。！？) before a space and something that can start one.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9\\$`*])|(?<=[。！？])")
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "etc.",
    "vs.",
    "cf.",
    "resp.",
    "Fig.",
    "fig.",
    "p.",
    "pp.",
    "No.",
    "Dr.",
)
_WORD = re.compile(r"\\?[A-Za-z][A-Za-z0-9_'’\-]*(?:\(\))?|\d+(?:[.,]\d+)*%?|[一-鿿]")
_HYPHEN_BREAK = re.compile(r"([a-z])- ([a-z])")  # a line-end hyphen PDF text often keeps
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:[.,]\d+)*(?:\s?%)?")
_NEGATORS = frozenset(
    {"not", "no", "never", "cannot", "none", "neither", "nor", "without", "nothing", "不", "没有"}
)
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "may",
        "me",
        "might",
        "more",
        "most",
        "must",
        "my",
        "need",
        "needs",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "use",
        "used",
        "using",
        "uses",
        "make",
        "makes",
        "made",
        "way",
        "ways",
        "thing",
        "things",
        "per",
        "via",
        "like",
        "well",
        "there's",
        "it's",
        "lets",
        "let",
        "onto",
        "upon",
        "within",
        "whether",
        "according",
        "manual",
        "documentation",
        "document",
        "states",
        "state",
        "explains",
        "explain",
        "describes",
        "describe",
        "notes",
        "note",
        "says",
        "say",
    ]
)
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly")


# ---- values ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable sentence (or table row): what a reader sees and the keys it cites."""

    index: int  # position in the section, from 0
    text: str  # the sentence as shown, citations and Markdown markers removed
    keys: tuple[str, ...]  # cited registry keys, in order, without repeats


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """The verdict on one claim and the evidence behind it."""

    index: int
    text: str
    keys: tuple[str, ...]
    verdict: str  # one of VERDICTS
    score: float  # 0..1, higher is better supported (the value the bench's ROC uses)
    evidence: str = ""  # the passage span that matched best
    evidence_key: str = ""  # the key of the passage that span is from
    reasons: tuple[str, ...] = ()  # what failed, in words ("number 42 not in the passage")
    judged: str = ""  # "yes"/"no" when the model judge was asked, else ""

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "text": self.text,
            "keys": list(self.keys),
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "evidence": self.evidence,
            "evidence_key": self.evidence_key,
            "reasons": list(self.reasons),
            "judged": self.judged,
        }

    @staticmethod
    def from_dict(data: Mapping) -> ClaimCheck:
        return ClaimCheck(
            index=int(data["index"]),
            text=str(data["text"]),
            keys=tuple(data.get("keys", ())),
            verdict=str(data["verdict"]),
            score=float(data.get("score", 0.0)),
            evidence=str(data.get("evidence", "")),
            evidence_key=str(data.get("evidence_key", "")),
            reasons=tuple(data.get("reasons", ())),
            judged=str(data.get("judged", "")),
        )


@dataclass(frozen=True, slots=True)
class SupportSummary:
    """Counts over some checked claims, and the one-line summary the GUI and CLI show."""

    claims: int = 0
    supported: int = 0
    partial: int = 0
    unsupported: int = 0
    uncited: int = 0

    @staticmethod
    def of(checks: Sequence) -> SupportSummary:
        """Count verdicts of ClaimChecks (or anything with a `verdict`, as ReportClaim)."""
        count = {v: 0 for v in VERDICTS}
        for check in checks:
            count[check.verdict] += 1
        return SupportSummary(len(checks), *(count[v] for v in VERDICTS))

    @property
    def flagged(self) -> int:
        return self.partial + self.unsupported + self.uncited

    @property
    def supported_share(self) -> float:
        return self.supported / self.claims if self.claims else 1.0

    def label(self) -> str:
        """`118 claims · 92% supported · 4 unsupported` (partial and uncited when present)."""
        if not self.claims:
            return "no claims checked yet"
        parts = [
            f"{self.claims} claim{'s' if self.claims != 1 else ''}",
            f"{round(100 * self.supported_share)}% supported",
        ]
        for name, n in (("partial", self.partial), ("uncited", self.uncited)):
            if n:
                parts.append(f"{n} {name}")
        parts.append(f"{self.unsupported} unsupported")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return {
            "claims": self.claims,
            "supported": self.supported,
            "partial": self.partial,
            "unsupported": self.unsupported,
            "uncited": self.uncited,
            "supported_share": round(self.supported_share, 4),
        }


@dataclass(frozen=True, slots=True)
class SectionCheck:
    """Every claim of one written section, checked once (a rewrite is checked again)."""

    section_id: str
    position: str
    step: int
    text_hash: str  # of the section text that was checked (see `text_hash`)
    claims: tuple[ClaimCheck, ...] = ()
    judge_calls: int = 0

    @property
    def flagged(self) -> tuple[ClaimCheck, ...]:
        return tuple(c for c in self.claims if c.flagged)

    @property
    def summary(self) -> SupportSummary:
        return SupportSummary.of(self.claims)

    def to_dict(self) -> dict:
        return {
            "section_id": self.section_id,
            "position": self.position,
            "step": self.step,
            "text_hash": self.text_hash,
            "claims": [c.to_dict() for c in self.claims],
            "judge_calls": self.judge_calls,
        }

    @staticmethod
    def from_dict(data: Mapping) -> SectionCheck:
        return SectionCheck(
            section_id=str(data["section_id"]),
            position=str(data.get("position", "")),
            step=int(data.get("step", 0)),
            text_hash=str(data.get("text_hash", "")),
            claims=tuple(ClaimCheck.from_dict(c) for c in data.get("claims", ())),
            judge_calls=int(data.get("judge_calls", 0)),
        )


def text_hash(text: str) -> str:
    """Identify a section text (whitespace-insensitive), so a check is matched to its text."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


# ---- splitting a section into claims -------------------------------------------------------------
def split_claims(markdown: str) -> list[Claim]:
    """The claims of a section body: cited sentences, and uncited ones that state facts."""
    claims: list[Claim] = []
    for unit in _text_units(markdown):
        for sentence in _sentences(unit):
            keys = _keys(sentence)
            text = plain_sentence(sentence)
            if not text or not any(ch.isalnum() for ch in text):
                continue
            if keys or is_factual(text):
                claims.append(Claim(len(claims), text, keys))
    return claims


MATCH_SKIPPED = frozenset(" \t\n\r\u00a0*_`")


def match_key(text: str) -> str:
    """A sentence as compared with rendered text: no spaces or emphasis markers (a DOCX or
    draft renderer finds a claim by this key, citations left out)."""
    return "".join(ch for ch in text if ch not in MATCH_SKIPPED)


def plain_sentence(raw: str) -> str:
    """What a reader sees of a sentence: no citations, link targets or emphasis markers."""
    text = _CITE_WITH_SPACE.sub("", raw)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = text.replace("`", "")
    return " ".join(text.split())


def is_factual(text: str) -> bool:
    """Whether an uncited sentence states something checkable (a number, or a real statement).

    Short connective sentences ("Two points stand out.") and questions are not claims.
    """
    if text.endswith("?") or text.endswith("："):
        return False
    if _NUMBER.search(text):
        return True
    if _is_cjk(text):
        return len(text) >= 20
    return len(content_terms(text)) >= 6


def _keys(sentence: str) -> tuple[str, ...]:
    keys: list[str] = []
    for match in CITE_RE.finditer(sentence):
        for key in match.group(1).split(","):
            key = key.strip()
            if key and key not in keys:
                keys.append(key)
    return tuple(keys)


def _text_units(markdown: str) -> list[str]:
    """Paragraphs, list items, quote paragraphs and table rows as plain runs of text."""
    units: list[str] = []
    current: list[str] = []
    in_fence = in_math = False
    table_header_pending = False

    def flush() -> None:
        if current:
            units.append(" ".join(current))
            current.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if stripped.startswith("$$"):
            flush()
            single = len(stripped) > 2 and stripped.endswith("$$") and stripped != "$$"
            if not single:
                in_math = not in_math
            continue
        if in_math:
            continue
        if not stripped:
            flush()
            table_header_pending = False
            continue
        if stripped.startswith("|"):
            flush()
            if _TABLE_RULE.match(stripped):
                if units and table_header_pending:
                    units.pop()  # the row above the rule is the header: labels, not a claim
                table_header_pending = False
                continue
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            units.append("; ".join(c for c in cells if c) + ".")
            table_header_pending = True
            continue
        table_header_pending = False
        if _LIST_MARK.match(line) or _HEADING_MARK.match(line):
            flush()
            line = _HEADING_MARK.sub("", _LIST_MARK.sub("", line, count=1), count=1)
        line = _QUOTE_MARK.sub("", line)
        current.append(line.strip())
    flush()
    return units


def _sentences(unit: str) -> list[str]:
    """Split a run of text into sentences; a citation after the full stop joins the sentence
    before it."""
    protected = unit
    for abbreviation in _ABBREVIATIONS:
        protected = protected.replace(abbreviation, abbreviation.replace(".", "\x00"))
    pieces = [p for p in _SENTENCE_END.split(protected) if p and p.strip()]
    sentences: list[str] = []
    for piece in pieces:
        piece = piece.replace("\x00", ".").strip()
        lead = re.match(r"^(?:\\cite\{[^}]*\}\s*[.,;]?\s*)+", piece)
        if lead and sentences:
            sentences[-1] = f"{sentences[-1]} {lead.group(0).strip()}"
            piece = piece[lead.end() :].strip()
        if piece:
            sentences.append(piece)
    return sentences


# ---- terms ---------------------------------------------------------------------------------------
def _is_cjk(text: str) -> bool:
    han = sum(1 for ch in text if "一" <= ch <= "鿿")
    return han > len(text) * 0.3


def stem(word: str) -> str:
    """A light, deterministic stemmer (enough to match `returns` with `returned`)."""
    w = word.lower().replace("’", "'").removesuffix("'s").strip("'-")
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def content_terms(text: str) -> list[str]:
    """Stems of the words that carry content (no stop words, no bare numbers), in order."""
    terms = []
    for word in _words(text):
        lower = word.lower()
        if lower in _STOPWORDS or lower[0].isdigit():
            continue
        if len(lower) < 2 and not ("一" <= lower <= "鿿"):
            continue
        terms.append(stem(word))
    return terms


def named_terms(text: str) -> set[str]:
    """Identifiers, capitalised names, commands and code: words a paraphrase must keep."""
    names = set()
    words = _words(text)
    for position, word in enumerate(words):
        is_code = any(ch in word for ch in "_\\()") or re.search(r"[a-z][A-Z]|\d", word)
        is_name = word[0].isupper() and position > 0 and word.lower() not in _STOPWORDS
        if (is_code or is_name) and not word[0].isdigit():
            names.add(stem(word))
    return names


def numbers(text: str) -> set[str]:
    """Numbers in a text, normalised (`1,000` → `1000`, `5 %` → `5%`, `2.50` → `2.5`)."""
    found = set()
    for match in _NUMBER.finditer(text):
        value = match.group(0).replace(" ", "")
        percent = value.endswith("%")
        value = value.rstrip("%")
        if re.fullmatch(r"\d{1,3}(,\d{3})+", value):
            value = value.replace(",", "")
        value = value.replace(",", ".")
        if "." in value:
            value = value.rstrip("0").rstrip(".") or "0"
        found.add(value + ("%" if percent else ""))
        if percent:
            found.add(value)
    return found


def _negations(text: str) -> int:
    """How many negations a sentence holds (not, no, never, cannot, n't, without …)."""
    lower = text.lower().replace("’", "'")
    count = lower.count("n't") + text.count("没有")
    return count + sum(1 for word in _words(text) if word.lower() in _NEGATORS)


def _pairs(terms: Sequence[str]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in zip(terms, terms[1:], strict=False)}


def passage_sentences(text: str) -> list[str]:
    """A passage's sentences (line breaks inside a paragraph joined; "e.g." ends none)."""
    flat = " ".join(text.split())
    for abbreviation in _ABBREVIATIONS:
        flat = flat.replace(abbreviation, abbreviation.replace(".", "\x00"))
    pieces = [p.strip() for p in re.split(r"(?<=[.!?。！？])\s+", flat) if p.strip()]
    return [p.replace("\x00", ".") for p in pieces] or [flat.replace("\x00", ".")]


# ---- scoring -------------------------------------------------------------------------------------
Similarity = Callable[[str, Sequence[str]], list[float]]  # claim, spans → cosine per span
Judge = Callable[[str, str], bool | None]  # claim, passage → entailed? (None: not asked)


@dataclass(frozen=True, slots=True)
class Thresholds:
    supported: float = LEXICAL[0]
    partial: float = LEXICAL[1]
    judge_band: tuple[float, float] = JUDGE_BAND

    @staticmethod
    def calibrated(with_embedder: bool) -> Thresholds:
        supported, partial = EMBEDDING if with_embedder else LEXICAL
        return Thresholds(supported, partial)


@dataclass(frozen=True, slots=True)
class Evidence:
    """The best-matching span of the cited passages for one claim and the scores behind it."""

    key: str
    span: str
    coverage: float
    pair_coverage: float
    named_coverage: float | None
    missing_numbers: tuple[str, ...]
    polarity_mismatch: bool
    similarity: float | None = None


def _span_windows(passage: str, size: int | None) -> list[str]:
    """Runs of `size` consecutive sentences (None: runs of one and of two)."""
    sentences = passage_sentences(passage)
    sizes = (1, 2) if size is None else (max(1, min(size, len(sentences))),)
    return [" ".join(sentences[i : i + n]) for n in sizes for i in range(len(sentences) - n + 1)]


def find_evidence(claim: str, cited: Mapping[str, str]) -> Evidence:
    """Score a claim against its cited passages (key → text) without any model."""
    cited = {key: _HYPHEN_BREAK.sub(r"\1\2", text) for key, text in cited.items()}
    terms = content_terms(claim)
    unique = set(terms)
    pairs = _pairs(terms)
    names = named_terms(claim)
    claim_numbers = numbers(claim)
    all_text = " ".join(cited.values())
    all_terms = set(content_terms(all_text))
    pool_pairs: set[tuple[str, str]] = set()
    for text in cited.values():
        pool_pairs |= _pairs(content_terms(text))
    coverage = len(unique & all_terms) / len(unique) if unique else 0.0
    pair_coverage = len(pairs & pool_pairs) / len(pairs) if pairs else coverage
    named = len(names & all_terms) / len(names) if names else None
    passage_numbers = numbers(all_text)
    missing = tuple(sorted(n for n in claim_numbers if n not in passage_numbers))
    key, span = _best_span(unique, cited, size=None)
    # polarity is compared with as many passage sentences as the claim has: a wider window
    # would borrow a neighbour's "not", a narrower one lose the claim's own
    _, matched = _best_span(unique, cited, size=len(passage_sentences(claim)))
    mismatch = bool(matched) and _negations(claim) != _negations(matched)
    return Evidence(key, span, coverage, pair_coverage, named, missing, mismatch)


def _best_span(terms: set[str], cited: Mapping[str, str], *, size: int | None) -> tuple[str, str]:
    best = ("", "", -1.0)
    for key, text in cited.items():
        for window in _span_windows(text, size):
            window_terms = set(content_terms(window))
            if not window_terms:
                continue
            hit = len(terms & window_terms)
            # prefer the tighter span among equally good ones
            value = hit - 0.01 * math.log1p(len(window_terms))
            if value > best[2]:
                best = (key, window, value)
    return best[0], best[1]


def lexical_score(evidence: Evidence) -> float:
    """Combine the lexical measures into one score in 0..1 (before hard-failure penalties)."""
    parts = [(0.55, evidence.coverage), (0.30, evidence.pair_coverage)]
    if evidence.named_coverage is not None:
        parts.append((0.15, evidence.named_coverage))
    weight = sum(w for w, _ in parts)
    return sum(w * v for w, v in parts) / weight


def combined_score(evidence: Evidence) -> float:
    """The claim's support score: lexical (and embedding) evidence, halved per hard failure."""
    score = lexical_score(evidence)
    if evidence.similarity is not None:
        sim = min(1.0, max(0.0, (evidence.similarity - 0.2) / 0.6))
        score = 0.7 * score + 0.3 * sim
    if evidence.missing_numbers:
        score *= 0.5
    if evidence.polarity_mismatch:
        score *= 0.5
    return score


def reasons_for(evidence: Evidence, score: float, thresholds: Thresholds) -> tuple[str, ...]:
    reasons = []
    if evidence.missing_numbers:
        shown = ", ".join(evidence.missing_numbers)
        reasons.append(f"number {shown} not in the cited passage")
    if evidence.polarity_mismatch:
        reasons.append("negation differs from the cited passage")
    if evidence.named_coverage is not None and evidence.named_coverage < 1.0:
        reasons.append("some names or terms are not in the cited passage")
    if score < thresholds.supported and not reasons:
        reasons.append("the cited passage says little of this")
    return tuple(reasons)


def verdict_for(score: float, evidence: Evidence, thresholds: Thresholds) -> str:
    hard = bool(evidence.missing_numbers) or evidence.polarity_mismatch
    if score >= thresholds.supported and not hard:
        return SUPPORTED
    if score >= thresholds.partial or (hard and lexical_score(evidence) >= thresholds.supported):
        return PARTIAL
    return UNSUPPORTED


# ---- the verifier --------------------------------------------------------------------------------
@dataclass(slots=True)
class JudgeBudget:
    """How many entailment calls a run may still make (mutable, owned by the engine thread)."""

    remaining: int = 0
    per_section: int = 4


@dataclass
class SectionVerifier:
    """Checks sections. The cheap part (words, numbers, polarity, embeddings) costs no LLM
    step; the judge, when given, is called only for claims in the uncertain band, within budget.
    """

    similarity: Similarity | None = None
    judge: Judge | None = None
    budget: JudgeBudget = field(default_factory=JudgeBudget)
    thresholds: Thresholds | None = None  # None: the calibrated pair for this verifier's mode

    def __post_init__(self) -> None:
        if self.thresholds is None:
            self.thresholds = Thresholds.calibrated(self.similarity is not None)

    def check_claim(
        self, claim: Claim, passages: Mapping[str, Passage], *, allow_judge: bool = True
    ) -> tuple[ClaimCheck, bool]:
        """Check one claim; return the check and whether the judge was called."""
        if not claim.keys:
            return ClaimCheck(
                claim.index, claim.text, (), UNCITED, 0.0, reasons=("no citation",)
            ), False
        cited = {k: passages[k].text for k in claim.keys if k in passages}
        if not cited:
            return (
                ClaimCheck(
                    claim.index,
                    claim.text,
                    claim.keys,
                    UNSUPPORTED,
                    0.0,
                    reasons=("cites no passage the run retrieved",),
                ),
                False,
            )
        evidence = find_evidence(claim.text, cited)
        if self.similarity is not None and evidence.span:
            sims = self.similarity(claim.text, [evidence.span])
            evidence = replace(evidence, similarity=float(sims[0]) if sims else None)
        score = combined_score(evidence)
        thresholds = self.thresholds or Thresholds.calibrated(self.similarity is not None)
        verdict = verdict_for(score, evidence, thresholds)
        judged = ""
        low, high = thresholds.judge_band
        asked = False
        if (
            allow_judge
            and self.judge is not None
            and low <= score < high
            and self.budget.remaining > 0
        ):
            self.budget.remaining -= 1
            asked = True
            answer = self.judge(claim.text, cited.get(evidence.key, evidence.span))
            if answer is not None:
                judged = "yes" if answer else "no"
                score = 0.5 * score + 0.5 * (1.0 if answer else 0.0)
                hard = bool(evidence.missing_numbers) or evidence.polarity_mismatch
                if answer and not hard:
                    verdict = SUPPORTED
                elif not answer:
                    verdict = PARTIAL if verdict == SUPPORTED else UNSUPPORTED
        reasons = () if verdict == SUPPORTED else reasons_for(evidence, score, thresholds)
        if judged == "no":
            reasons = (*reasons, "the model judge found it not entailed")
        check = ClaimCheck(
            claim.index,
            claim.text,
            claim.keys,
            verdict,
            score,
            evidence.span,
            evidence.key,
            reasons,
            judged,
        )
        return check, asked

    def check_section(
        self,
        text: str,
        passages: Mapping[str, Passage],
        *,
        section_id: str = "",
        position: str = "",
        step: int = 0,
    ) -> SectionCheck:
        """Check every claim of a section text (Markdown with `\\cite{…}`)."""
        checks = []
        calls = 0
        for claim in split_claims(text):
            check, asked = self.check_claim(
                claim, passages, allow_judge=calls < self.budget.per_section
            )
            calls += asked
            checks.append(check)
        return SectionCheck(section_id, position, step, text_hash(text), tuple(checks), calls)


# ---- the model judge -----------------------------------------------------------------------------
JUDGE_GRAMMAR = 'root ::= "yes" | "no"'
JUDGE_MIN_PARAMETERS = 3_000_000_000  # the judge is on by default from 3 B parameters up


def judge_prompt(claim: str, passage: str) -> str:
    """The entailment question: one passage, one claim, answer yes or no."""
    passage = " ".join(passage.split())
    return (
        "Does the passage support the claim? Answer yes only if the passage states what the "
        "claim says (same facts, numbers and polarity); otherwise answer no.\n\n"
        f"Passage:\n{passage}\n\nClaim:\n{claim}\n\nAnswer (yes or no):"
    )


def parse_judgement(text: str) -> bool | None:
    """Read a judge reply: yes → True, no → False, anything else → None."""
    word = re.match(r"\W*([A-Za-z]+)", text or "")
    if not word:
        return None
    answer = word.group(1).lower()
    return True if answer == "yes" else False if answer == "no" else None


def model_judge(backend, *, cancel=None, max_tokens: int = 2) -> Judge:
    """A Judge that asks `backend` (a desktop.llm ChatBackend) one grammar-constrained yes/no
    question per claim, at temperature 0. The run's step counter is not touched: the judge is
    budgeted by `JudgeBudget`, not by WARP steps."""
    from desktop.core.chat import ChatRequest

    def judge(claim: str, passage: str) -> bool | None:
        request = ChatRequest.user(
            judge_prompt(claim, passage),
            max_tokens=max_tokens,
            temperature=0.0,
            seed=0,
            grammar=JUDGE_GRAMMAR if backend.supports_grammar else None,
            purpose="check",
        )
        result = backend.chat(request, cancel=cancel)
        if result.finish_reason == "cancelled":
            from desktop.core.cancel import Cancelled

            raise Cancelled()
        answer = parse_judgement(result.text)
        log.debug("judge: %r → %r", claim[:60], result.text)
        return answer

    return judge


# ---- what the revision step tells the model -----------------------------------------------------
def revision_request(check: SectionCheck, limit: int = 8) -> dict:
    """The flagged sentences of a check, as the small record a run's state carries."""
    flagged = [
        {"text": c.text, "verdict": c.verdict, "reason": c.reasons[0] if c.reasons else ""}
        for c in check.flagged[:limit]
    ]
    return {"section_id": check.section_id, "position": check.position, "sentences": flagged}


def revision_note(request: Mapping | None) -> str:
    """Lines for the write instruction naming the sentences to fix ("" when none).

    In the trained layout they follow `You need to update section-2.1` under
    `** Analyzer's Instruction **`.
    """
    if not request or not request.get("sentences"):
        return ""
    lines = [
        "Revise this section: these sentences are not supported by the passages they cite. "
        "Rewrite each so that it says only what a cited passage says, cite the passage that "
        "does, or leave it out:"
    ]
    for item in request["sentences"]:
        reason = f" ({item['verdict']}: {item['reason']})" if item.get("reason") else ""
        lines.append(f'- "{item["text"]}"{reason}')
    return "\n".join(lines)
