"""Pure text helpers shared by the script validator, the timing table and the offline writer.

A script is plain text with one Markdown heading line per section (``## Hook``). Spoken words are
the words of every line that is not a heading; headings are structure, not narration.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

WORD_RE = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*", re.UNICODE)
HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
BOLD_HEADING_RE = re.compile(r"^\s*(?:\*\*|__)(?P<title>[^*_]{1,80}?)(?:\*\*|__)\s*:?\s*$")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "you",
        "your",
        "yours",
        "we",
        "our",
        "i",
        "me",
        "my",
        "he",
        "she",
        "his",
        "her",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "not",
        "no",
        "nor",
        "can",
        "could",
        "should",
        "would",
        "will",
        "just",
        "than",
        "too",
        "very",
        "also",
        "up",
        "down",
        "out",
        "over",
        "under",
        "again",
        "more",
        "most",
        "some",
        "such",
        "any",
        "each",
        "all",
        "own",
        "same",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "while",
        "during",
        "before",
        "after",
        "above",
        "below",
        "between",
        "through",
        "until",
        "off",
        "both",
        "few",
        "other",
        "only",
        "s",
        "t",
        "don't",
        "isn't",
        "aren't",
        "it's",
        "let's",
        "you're",
        "we're",
    ]
)

_SUFFIXES = (
    "ational",
    "ization",
    "fulness",
    "ousness",
    "iveness",
    "ements",
    "ement",
    "ments",
    "ment",
    "ations",
    "ation",
    "ities",
    "ity",
    "ings",
    "ing",
    "edly",
    "ness",
    "ies",
    "ied",
    "ed",
    "es",
    "ly",
    "er",
    "s",
    "e",
)
_SHORT_OK = frozenset({"ing", "ed", "es", "e"})


def normalise(text: str) -> str:
    """Lower case, accents folded, curly quotes straightened."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded.replace("\u2019", "'").replace("\u2018", "'").casefold()


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def stem(word: str) -> str:
    """A light suffix stripper: 'using', 'used', 'uses' and 'use' all become 'us'."""
    token = normalise(word).strip("'-")
    if token.endswith("'s"):
        token = token[:-2]
    for suffix in _SUFFIXES:
        keep = 2 if suffix in _SHORT_OK else 3
        if token.endswith(suffix) and len(token) - len(suffix) >= keep:
            token = token[: -len(suffix)]
            if suffix in ("ies", "ied"):
                token += "y"
            break
    if len(token) > 3 and token[-1] == token[-2] and token[-1] not in "aeiouls":
        token = token[:-1]
    return token


def content_stems(text: str) -> list[str]:
    """The stems of the words that carry meaning, in order, without repeats."""
    seen: list[str] = []
    for word in words(text):
        if normalise(word) in STOPWORDS:
            continue
        token = stem(word)
        if token and token not in seen:
            seen.append(token)
    return seen


def stems_match(a: str, b: str) -> bool:
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= 4 and longer.startswith(shorter)


def heading_title(line: str) -> str | None:
    """The title when the line is a section heading (``## Title`` or ``**Title**``)."""
    match = HEADING_RE.match(line) or BOLD_HEADING_RE.match(line)
    if match is None:
        return None
    return match.group("title").strip().strip("*_").strip().rstrip(":").strip()


def spoken_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if heading_title(line) is None]


def count_words(text: str) -> int:
    """Spoken words: the words of every line that is not a heading."""
    return sum(len(words(line)) for line in spoken_lines(text))


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    body: str

    @property
    def word_count(self) -> int:
        return count_words(self.body)


def split_sections(text: str) -> list[Section]:
    """The script cut at its heading lines. Text before the first heading is an untitled section."""
    sections: list[Section] = []
    title = ""
    body: list[str] = []
    for line in text.splitlines():
        heading = heading_title(line)
        if heading is not None:
            if title or "\n".join(body).strip():
                sections.append(Section(title, "\n".join(body).strip()))
            title, body = heading, []
        else:
            body.append(line)
    if title or "\n".join(body).strip():
        sections.append(Section(title, "\n".join(body).strip()))
    return sections


def titles_match(expected: str, found: str) -> bool:
    """Whether a heading found in a script names the expected section title."""
    want = content_stems(expected) or [stem(w) for w in words(expected)]
    have = content_stems(found) or [stem(w) for w in words(found)]
    if not want:
        return False
    return all(any(stems_match(w, h) for h in have) for w in want)


def word_budget(duration_seconds: int, words_per_minute: int) -> int:
    return max(1, round(duration_seconds * words_per_minute / 60))


def seconds_for(word_count: int, words_per_minute: int) -> float:
    return word_count * 60 / words_per_minute if words_per_minute else 0.0
