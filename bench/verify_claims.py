"""The labelled claim set for the citation check, built from Debian's manuals, and its mutations.

Passages are the chunks Draftwell itself indexes (desktop.knowledge.formats + chunking) of real
manuals nobody here wrote: R's (r-doc-pdf), gnuplot's (gnuplot-doc) and LaTeX packages'
(texlive-latex-recommended-doc). A claim is a faithful paraphrase of one sentence of a passage:
the sentence reworded by fixed, meaning-preserving rules (synonyms such as provides → offers,
"in order to" → "to", an attribution frame such as "According to the documentation, …"), cited
to that passage. `bench/data/verify_claims.jsonl` keeps each claim's text, document, page and
passage locator (chunk index on the page and the SHA-1 of the chunk text); the manuals
themselves are never committed: `scripts/fetch_manuals.sh` fetches them.

Mutations (generated here, deterministically, from the claims):
- `swap_doc`: cited to another passage of the same document (a random page at least 3 away);
- `swap_doc_near`: the same, but the most similar such passage (the harder case);
- `swap_other`: cited to a passage of another document;
- `number`: one number of the claim changed to a value the passage does not contain;
- `negation`: a negation inserted (or an existing one removed).

Run `python bench/verify_claims.py --root DIR` to rebuild the data file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from desktop.knowledge.chunking import chunk_section  # noqa: E402
from desktop.knowledge.formats import Section, open_document  # noqa: E402

DATA_FILE = REPO / "bench" / "data" / "verify_claims.jsonl"
DOCUMENTS = (
    "r-doc-pdf/manual/R-intro.pdf",
    "r-doc-pdf/manual/R-admin.pdf",
    "r-doc-pdf/manual/R-data.pdf",
    "r-doc-pdf/manual/R-FAQ.pdf",
    "gnuplot/gnuplot.pdf",
    "texlive-doc/latex/booktabs/booktabs.pdf",
    "texlive-doc/latex/microtype/microtype.pdf",
    "texlive-doc/latex/listings/listings.pdf",
    "texlive-doc/latex/caption/caption.pdf",
    "texlive-doc/latex/xcolor/xcolor.pdf",
    "texlive-doc/latex/fancyvrb/fancyvrb-doc.pdf",
    "texlive-doc/latex/etoolbox/etoolbox.pdf",
)
PER_DOCUMENT = 36
NUMBER_SHARE = 0.45  # aim for this share of claims with a number (for the `number` mutation)

SYNONYMS = {
    "provides": "offers",
    "provide": "offer",
    "provided": "offered",
    "contains": "includes",
    "contain": "include",
    "displays": "shows",
    "requires": "needs",
    "require": "need",
    "required": "needed",
    "begins": "starts",
    "usually": "normally",
    "often": "frequently",
    "various": "different",
    "therefore": "thus",
    "create": "make",
    "creates": "makes",
    "modify": "change",
    "modifies": "changes",
    "modified": "changed",
    "select": "choose",
    "selects": "chooses",
    "necessary": "needed",
    "additional": "extra",
    "currently": "at present",
    "initially": "at first",
    "immediately": "at once",
    "entire": "whole",
    "rather than": "instead of",
    "in order to": "to",
    "is able to": "can",
    "are able to": "can",
    "it is possible to": "one can",
    "a number of": "several",
    "e.g.": "for example",
    "i.e.": "that is",
    "large": "big",
    "obtain": "get",
    "allows": "lets one",
    "uses": "employs",
    "use": "employ",
    "used": "employed",
    "shows": "displays",
    "show": "display",
    "specified": "given",
    "specify": "give",
    "specifies": "gives",
    "change": "alter",
    "changes": "alters",
    "changed": "altered",
    "example": "instance",
    "examples": "instances",
    "simple": "plain",
    "important": "essential",
    "possible": "feasible",
    "easily": "readily",
    "quickly": "rapidly",
    "method": "approach",
    "methods": "approaches",
    "problem": "issue",
    "problems": "issues",
    "available": "on hand",
    "typically": "commonly",
    "generally": "in general",
    "also": "as well",
    "only": "solely",
    "whole": "entire",
    "value": "setting",
    "values": "settings",
    "option": "setting",
    "options": "settings",
    "command": "instruction",
    "commands": "instructions",
    "user": "person using it",
    "users": "people using it",
    "produce": "generate",
    "produces": "generates",
    "produced": "generated",
    "build": "construct",
    "built": "constructed",
    "help": "assist",
    "helps": "assists",
    "need": "require",
    "needs": "requires",
    "find": "locate",
    "finds": "locates",
    "found": "located",
    "different": "distinct",
    "instead": "in its place",
}
FRAMES = ("", "The manual states that ", "According to the documentation, ")
NO_FRAME = {"I", "It", "Note", "This", "These", "Thus", "However", "So", "But", "And", "Also"}
_HYPHEN_BREAK = re.compile(r"([a-z])- ([a-z])")  # a line-end hyphen the PDF text kept
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NUMBER = re.compile(r"(?<![A-Za-z_.\d])\d+(?:\.\d+)?(?![\d.]*[A-Za-z_])")
_AUX = re.compile(r"\b(is|are|was|were|can|will|must|should|may|does|do|has|have)\b")
_NEG = re.compile(r"\b(not|never|no)\b\s*|n't\b|\bcannot\b")


@dataclass(frozen=True, slots=True)
class Passage:
    doc: str
    page: int
    chunk: int  # index of the chunk among the page's chunks
    text: str

    @property
    def sha1(self) -> str:
        return hashlib.sha1(" ".join(self.text.split()).encode("utf-8")).hexdigest()

    @property
    def locator(self) -> str:
        return f"{self.doc}#page={self.page}&chunk={self.chunk}"


def manuals_root(root: str | None) -> Path:
    """The unpacked manuals (usr/share/doc below it); fetched by scripts/fetch_manuals.sh."""
    if root:
        base = Path(root)
    else:
        out = subprocess.run(
            ["bash", str(REPO / "scripts" / "fetch_manuals.sh")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        base = Path(out) / "root"
    doc = base / "usr" / "share" / "doc"
    if not doc.is_dir():
        raise SystemExit(f"no manuals under {doc}")
    return doc


def load_passages(doc_root: Path, documents=DOCUMENTS) -> dict[str, list[Passage]]:
    """Every chunk of every document, as Draftwell's ingest would cut it."""
    out: dict[str, list[Passage]] = {}
    for name in documents:
        parsed = open_document((doc_root / name).resolve())
        per_page: dict[int, int] = {}
        passages = []
        for item in parsed.items:
            if not isinstance(item, Section):
                continue
            for chunk in chunk_section(item):
                page = chunk.page or 0
                index = per_page.get(page, 0)
                per_page[page] = index + 1
                passages.append(Passage(name, page, index, chunk.text))
        out[name] = passages
    return out


# ---- building claims ---------------------------------------------------------------------------
def _good_sentence(sentence: str) -> bool:
    words = sentence.split()
    if not 10 <= len(words) <= 40 or not sentence.endswith("."):
        return False
    if re.match(r"(Chapter|Appendix|Section) \d", sentence):
        return False  # a running page header glued to the sentence
    if not sentence[0].isupper() or sentence.count("(") != sentence.count(")"):
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in sentence)
    if letters < 0.85 * len(sentence):
        return False
    if re.search(r"\.{3}|…|\b(Figure|Table|See|see)\b|[{}<>|=@#$]|\d [A-Z]", sentence):
        return False
    return sum(w[0].isupper() for w in words[1:]) <= len(words) // 3


def _keep_case(original: str, replacement: str) -> str:
    return replacement[0].upper() + replacement[1:] if original[0].isupper() else replacement


def paraphrase(sentence: str, seed: int) -> str:
    """Reword a sentence by fixed meaning-preserving rules (at most five synonyms, a frame)."""
    text = _HYPHEN_BREAK.sub(r"\1\2", " ".join(sentence.split()))
    changed = 0
    for phrase, replacement in SYNONYMS.items():
        if changed >= 5:
            break
        pattern = re.compile(rf"(?<![\w.]){re.escape(phrase)}(?![\w])", re.IGNORECASE)
        if pattern.search(text):
            text = pattern.sub(lambda m, r=replacement: _keep_case(m.group(0), r), text, count=1)
            changed += 1
    frame = FRAMES[seed % len(FRAMES)]
    first, _, rest = text.partition(" ")
    lowerable = first.isalpha() and first[1:].islower() and first not in NO_FRAME
    if frame and lowerable:
        text = frame + first.lower() + " " + rest
    return text


def build_claims(passages: dict[str, list[Passage]]) -> list[dict]:
    claims = []
    for doc, items in passages.items():
        candidates = []
        for passage in items:
            flat = " ".join(passage.text.split())
            for sentence in _SENT_SPLIT.split(flat):
                if _good_sentence(sentence):
                    candidates.append((passage, sentence, bool(_NUMBER.search(sentence))))
        rng = random.Random(doc)
        with_numbers = [c for c in candidates if c[2]]
        without = [c for c in candidates if not c[2]]
        rng.shuffle(with_numbers)
        rng.shuffle(without)
        n_numbers = min(len(with_numbers), round(PER_DOCUMENT * NUMBER_SHARE))
        chosen = with_numbers[:n_numbers] + without[: PER_DOCUMENT - n_numbers]
        seen_pages: set[tuple[int, int]] = set()
        for passage, sentence, has_number in chosen:
            if (passage.page, passage.chunk) in seen_pages:
                continue
            seen_pages.add((passage.page, passage.chunk))
            number = len(claims)
            claims.append(
                {
                    "id": f"c{number:04d}",
                    "doc": doc,
                    "page": passage.page,
                    "chunk": passage.chunk,
                    "passage_sha1": passage.sha1,
                    "source_sentence": sentence,
                    "claim": paraphrase(sentence, number),
                    "has_number": has_number,
                }
            )
    return claims


def write_claims(claims: list[dict], path: Path = DATA_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for claim in claims:
            out.write(json.dumps(claim, ensure_ascii=False) + "\n")


def read_claims(path: Path = DATA_FILE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def locate(claim: dict, passages: dict[str, list[Passage]]) -> Passage:
    """The claim's passage: by its locator and SHA-1 while the chunker is the one that built the
    set; after a chunker change, the passage on that page holding the claim's source sentence
    (whole, else most of its words), so the check always scores the chunks Draftwell cuts now."""
    for passage in passages[claim["doc"]]:
        here = passage.page == claim["page"] and passage.chunk == claim["chunk"]
        if here and passage.sha1 == claim["passage_sha1"]:
            return passage
    for passage in passages[claim["doc"]]:
        if passage.sha1 == claim["passage_sha1"]:
            return passage
    relocated = relocate(claim, passages[claim["doc"]])
    if relocated is None:
        raise LookupError(f"{claim['id']}: passage {claim['doc']} p.{claim['page']} not found")
    return relocated


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def relocate(claim: dict, passages: list[Passage]) -> Passage | None:
    """The passage of the claim's page that contains its source sentence (see `locate`)."""
    sentence = _squeezed(claim["source_sentence"])
    on_page = [p for p in passages if p.page == claim["page"]]
    for passage in on_page:
        if sentence in _squeezed(passage.text):
            return passage
    if not on_page:
        return None
    best = max(on_page, key=lambda p: content_overlap(sentence, p.text))
    return best if content_overlap(sentence, best.text) > 0 else None


def content_overlap(claim: str, passage: str) -> int:
    """How many of the claim's content words a passage contains (to pick the nearest one)."""
    from desktop.core.verify import content_terms

    return len(set(content_terms(claim)) & set(content_terms(passage)))


# ---- mutations ---------------------------------------------------------------------------------
def change_number(claim: str, passage: str, seed: int) -> str | None:
    """Change one number of the claim to a value that does not occur in the passage."""
    matches = list(_NUMBER.finditer(claim))
    if not matches:
        return None
    match = matches[seed % len(matches)]
    value = match.group(0)
    present = set(re.findall(r"\d+(?:\.\d+)?", passage))
    if "." in value:
        whole, frac = value.split(".")
        candidates = [
            f"{whole}.{(int(frac) + k) % 10 ** len(frac):0{len(frac)}d}" for k in (1, 3, 7)
        ]
    else:
        n = int(value)
        candidates = [str(n + k) for k in (1, 2, 3, 5, 10)] + [str(n * 2 + 3)]
    for candidate in candidates:
        if candidate not in present and candidate != value:
            return claim[: match.start()] + candidate + claim[match.end() :]
    return None


def negate(claim: str) -> str:
    """Insert a negation after the first auxiliary verb, or remove an existing one."""
    if _NEG.search(claim):
        return " ".join(
            _NEG.sub(lambda m: "can " if m.group(0) == "cannot" else "", claim, count=1).split()
        )
    match = _AUX.search(claim)
    if match:
        word = match.group(1)
        if word == "can":
            return claim[: match.start()] + "cannot" + claim[match.end() :]
        return claim[: match.end()] + " not" + claim[match.end() :]
    first, _, rest = claim.partition(" ")
    lowered = first.lower() if first[1:].islower() else first
    return f"It is not the case that {lowered} {rest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="directory holding usr/share/doc (default: fetch)")
    args = parser.parse_args()
    passages = load_passages(manuals_root(args.root))
    claims = build_claims(passages)
    write_claims(claims)
    numbered = sum(c["has_number"] for c in claims)
    reworded = sum(c["claim"] != c["source_sentence"] for c in claims)
    print(f"{len(claims)} claims ({numbered} with numbers, {reworded} reworded) → {DATA_FILE}")


if __name__ == "__main__":
    main()
