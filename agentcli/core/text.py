"""Text rules every backend shares: the words worth searching for, how two memories
are compared, a session's title, and relevance scored from one user's own data."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

TITLE_CHARS = 60
MAX_QUERY_WORDS = 32
# Most rows a relevance query may match: words are searched rarest first until
# their matches would exceed this. A word in more memories than this says
# little about which one is meant, and ranking every match would cost time.
MAX_MATCHED_ROWS = 1000

# Words that say nothing about which memory is meant.
STOP_WORDS = frozenset(
    """
    a about after again all also am an and any are as at be because been before being
    both but by can could did do does doing done for from had has have having he her here
    hers him his how i if in into is it its just me might more most must my no nor not
    of off on once only or other our ours out over own same she should so some such than
    that the their theirs them then there these they this those through to too under
    until up us very was we were what when where which while who whom why will with
    would you your yours yourself s t d ll m re ve don doesn didn isn wasn aren weren
    won wouldn shouldn couldn ever please tell know think say said like get got let
    """.split()
)
_WORD = re.compile(r"\w+")


def keywords(message: str) -> list[str]:
    """The words of a message worth searching for, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(message.casefold()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)[:MAX_QUERY_WORDS]


def normalize_memory(text: str) -> str:
    """The form two memories are compared in: case-folded words, punctuation dropped."""
    words = _WORD.findall(text.casefold())
    return " ".join(words) if words else " ".join(text.casefold().split())


def title_from(text: str) -> str:
    """A session name from its first message: the first line, shortened."""
    line = " ".join(text.strip().split("\n", 1)[0].split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def rarest_first(matches: Mapping[str, Sequence[int]], cap: int = MAX_MATCHED_ROWS) -> list[str]:
    """The words to rank by: rarest first, while their matches add up to at most ``cap``."""
    return rarest_words({word: len(ids) for word, ids in matches.items()}, cap)


def rarest_words(counts: Mapping[str, int], cap: int = MAX_MATCHED_ROWS) -> list[str]:
    """:func:`rarest_first` from how many memories match each word (so a backend can
    count first and read the ids of the chosen words only)."""
    chosen, rows = [], 0
    for word in sorted(counts, key=lambda w: counts[w]):
        rows += counts[word]
        if rows > cap:
            break
        chosen.append(word)
    return chosen


def score_matches(matches: Mapping[str, Sequence[int]], total: int) -> list[tuple[int, float]]:
    """Rank ids by the words they match, best first, scored in (0, 1].

    ``matches`` maps each word to the ids of one user's memories that match it
    (through the backend's own stemming); ``total`` is how many memories that
    user has. A word's weight is its inverse document frequency among that
    user's memories alone (BM25's idf), so no other user's data moves the order.
    """
    score: dict[int, float] = {}
    for ids in matches.values():
        df = len(ids)
        if not df:
            continue
        weight = math.log(1 + (max(total, df) - df + 0.5) / (df + 0.5))
        for i in ids:
            score[i] = score.get(i, 0.0) + weight
    if not score:
        return []
    best = max(score.values()) or 1.0
    ranked = sorted(score.items(), key=lambda item: (-item[1], -item[0]))
    return [(i, s / best) for i, s in ranked]


def search_words(text: str) -> list[str]:
    """The keywords of ``text``; when it has none (only common words), all its words."""
    found = keywords(text)
    if found:
        return found
    return list(dict.fromkeys(_WORD.findall(text.casefold())))[:MAX_QUERY_WORDS]
