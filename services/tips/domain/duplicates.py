"""Finds likely duplicate tips for an officer to confirm: same category and place, close in time, similar text.

Text similarity folds Vietnamese diacritics (so "trộm cắp" matches "trom cap", as typed on phones without a
Vietnamese keyboard), then blends a word-token Jaccard index (robust to word order) with a character-shingle
Jaccard index (robust to typos and spacing). Tuning lives in `rules/triage.<version>.yaml`.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from .rules import TriageRules

# Words so common in tips that sharing them says nothing (already folded).
STOPWORDS: frozenset[str] = frozenset(
    {
        "va", "cua", "la", "co", "o", "tai", "thi", "ma", "nhung", "cac", "mot", "nhieu", "da", "dang", "se", "bi",
        "duoc", "cho", "voi", "nay", "do", "khi", "toi", "em", "anh", "chi", "ong", "ba", "the", "a", "an", "and", "of",
        "to", "in", "at", "is", "are", "was", "on", "for", "with", "this", "that", "it", "by", "from",
    }
)
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case text without diacritics: `Đường Lê Lợi` -> `duong le loi`."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).casefold()


# A new tip is compared with up to 200 recent ones of its category and place, and each of those with every tip
# that comes after it: their words and shingles are kept for the recent descriptions (short ones only, so the
# cache stays small: at most _CACHED texts of at most _CACHED_CHARS characters).
_CACHED, _CACHED_CHARS = 2048, 1000


def tokens(text: str) -> frozenset[str]:
    return _words_tokens(_WORD.findall(fold(text)))


def _words_tokens(words: list[str]) -> frozenset[str]:
    return frozenset(w for w in words if w not in STOPWORDS)


def shingles(text: str, size: int) -> frozenset[str]:
    return _words_shingles(_WORD.findall(fold(text)), size)


def _words_shingles(words: list[str], size: int) -> frozenset[str]:
    # Interned: the same shingle of two texts is then one object, and intersecting two texts' sets (a tip is
    # compared with up to 200 others) compares identities instead of characters, a third less time per pair.
    compact = " ".join(words)
    if len(compact) <= size:
        return frozenset({sys.intern(compact)}) if compact else frozenset()
    return frozenset(sys.intern(compact[i : i + size]) for i in range(len(compact) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)  # |a ∪ b| without building the union


Features = tuple[frozenset[str], frozenset[str]]  # a text's words and its character shingles


def text_features(text: str, shingle_size: int) -> Features:
    return _features_cached(text, shingle_size) if len(text) <= _CACHED_CHARS else _text_features(text, shingle_size)


def _text_features(text: str, shingle_size: int) -> Features:
    words = _WORD.findall(fold(text))  # folded once for both
    return _words_tokens(words), _words_shingles(words, shingle_size)


_features_cached = lru_cache(maxsize=_CACHED)(_text_features)


def _jaccard_bound(a: frozenset[str], b: frozenset[str]) -> float:
    """The highest Jaccard index two sets of these sizes can have (|smaller| / |larger|)."""
    small, large = sorted((len(a), len(b)))
    return small / large if large else 0.0


def features_similarity(a: Features, b: Features, rules: TriageRules) -> float:
    """0..1, the weighted blend of token and shingle Jaccard indices."""
    total = rules.weights.tokens + rules.weights.shingles
    if total == 0:
        return 0.0
    score = rules.weights.tokens * jaccard(a[0], b[0]) + rules.weights.shingles * jaccard(a[1], b[1])
    return score / total


def text_similarity(a: str, b: str, rules: TriageRules) -> float:
    """0..1, the weighted blend of token and shingle Jaccard indices."""
    size = rules.shingle_size
    return features_similarity(text_features(a, size), text_features(b, size), rules)


@dataclass(frozen=True)
class TipFingerprint:
    """What duplicate detection looks at; the description never leaves the tips service."""

    tip_id: str
    category: str
    received_at: datetime
    description: str
    area_code: str | None = None
    unit_id: str | None = None
    # The description's features by shingle size, computed once: a batch compares one stored tip with many new
    # ones through the same fingerprint.
    _features: dict[int, Features] = field(default_factory=dict, init=False, repr=False, compare=False)

    def features(self, shingle_size: int) -> Features:
        found = self._features.get(shingle_size)
        if found is None:
            found = self._features[shingle_size] = text_features(self.description, shingle_size)
        return found


@dataclass(frozen=True)
class DuplicateCandidate:
    tip_id: str
    score: float
    reasons: tuple[str, ...]


def duplicate_score(new: TipFingerprint, other: TipFingerprint, rules: TriageRules, *,
                    window: timedelta | None = None) -> DuplicateCandidate | None:
    """The candidate link from `new` to `other`, or None when they cannot be duplicates or score too low."""
    if new.tip_id == other.tip_id or new.category != other.category:
        return None
    same_unit = new.unit_id is not None and new.unit_id == other.unit_id
    same_area = new.area_code is not None and new.area_code == other.area_code
    if not (same_unit or same_area):
        return None
    if abs(new.received_at - other.received_at) > (window or timedelta(hours=rules.window_hours)):
        return None
    bonus = rules.same_unit_bonus if same_unit else 0.0
    a, b = new.features(rules.shingle_size), other.features(rules.shingle_size)
    total = rules.weights.tokens + rules.weights.shingles
    # The sets' sizes bound the score: when even the bound is too low, the intersections need not be counted.
    if total and (rules.weights.tokens * _jaccard_bound(a[0], b[0]) + rules.weights.shingles
                  * _jaccard_bound(a[1], b[1])) / total + bonus < rules.min_score:
        return None
    text = features_similarity(a, b, rules)
    score = min(1.0, text + bonus)
    if score < rules.min_score:
        return None
    reasons = ["same_category", "same_unit" if same_unit else "same_area", "close_in_time", f"text:{text:.2f}"]
    return DuplicateCandidate(tip_id=other.tip_id, score=round(score, 4), reasons=tuple(reasons))


def find_duplicates(
    new: TipFingerprint, others: Iterable[TipFingerprint], rules: TriageRules, *, limit: int = 5
) -> list[DuplicateCandidate]:
    """The best candidate links for `new`, highest score first (ties by tip id for a stable order)."""
    window = timedelta(hours=rules.window_hours)
    found = [c for c in (duplicate_score(new, o, rules, window=window) for o in others) if c is not None]
    return sorted(found, key=lambda c: (-c.score, c.tip_id))[:limit]


def candidate_window(received_at: datetime, rules: TriageRules) -> tuple[datetime, datetime]:
    """The received_at range the store should query for candidates (keeps the comparison set small)."""
    span = timedelta(hours=rules.window_hours)
    return received_at - span, received_at + span
