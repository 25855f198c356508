"""Text rules every backend shares: the words worth searching for, how two memories
are compared, a session's title, and relevance scored from one user's own data."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

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


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 memory``, ``2 memories``: a count with its noun in the right number."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"


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
    if text.startswith("----- "):  # files attached before what was typed
        from .attachments import typed_part

        text = typed_part(text)
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


# -- token estimates ---------------------------------------------------------
# Tokens are counted without the model's tokenizer, on the high side: one token
# per 3 bytes of UTF-8. English runs about 4 characters a token, so this
# overcounts it by a third; CJK text (3 bytes a character, often a token each)
# comes out about right. Overcounting costs some history; undercounting would
# cost the request.
BYTES_PER_TOKEN = 3
# What a message costs besides its text (role, separators of the chat template).
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str | None) -> int:
    """Tokens in ``text``, estimated high: UTF-8 bytes ÷ 3, rounded up."""
    if not text:
        return 0
    return -(-len(text.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)


def estimate_message_tokens(messages: list[dict[str, Any]]) -> int:
    """Tokens of Chat Completions messages: their text, tool calls and a per-message overhead."""
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if isinstance(content, list):  # content parts: text and images
            from .attachments import IMAGE_TOKENS

            for part in content:
                is_text = isinstance(part, dict) and part.get("type") == "text"
                total += estimate_tokens(part.get("text")) if is_text else IMAGE_TOKENS
            content = ""
        total += MESSAGE_OVERHEAD + estimate_tokens(content)
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += MESSAGE_OVERHEAD + estimate_tokens(function.get("name") or "")
            total += estimate_tokens(function.get("arguments") or "")
    return total


# -- grounding: is a proposed memory in the user's own words? ------------------
# Words that frame a fact about the user rather than state it.
FRAMING_WORDS = frozenset(
    "user users person people someone their they them themselves name named called "
    "currently also really likes".split()
)
# Share of a memory's content words that must appear in what the user wrote.
GROUNDED_SHARE = 2 / 3
_SUFFIXES = ("ingly", "ings", "ing", "edly", "ies", "ied", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A crude stem: the word case-folded, a possessive and one common suffix removed."""
    word = word.casefold().removesuffix("'s").removesuffix("\u2019s")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix == "s" and word.endswith("ss"):
                return word
            return base
    return word


def content_stems(text: str) -> list[str]:
    """The stems of the words of ``text`` that say something (no stop or framing words)."""
    words = _WORD.findall(text.casefold())
    return [
        stem(w)
        for w in words
        if w not in STOP_WORDS and w not in FRAMING_WORDS and (len(w) > 1 or w.isdigit())
    ]


def grounded(memory: str, source: str, share: float = GROUNDED_SHARE) -> bool:
    """Whether ``memory`` restates ``source``: at least ``share`` of its content words
    appear there, compared by stem (or by a common start of 5+ letters, which
    catches 'prefer'/'preference'). A memory made only of common words is compared
    by all its words; one with no word at all is not grounded."""
    wanted = content_stems(memory) or [
        stem(w) for w in _WORD.findall(memory.casefold()) if w not in FRAMING_WORDS
    ]
    if not wanted:
        return False
    have = set(content_stems(source)) | {w.casefold() for w in _WORD.findall(source)}
    prefixes = {w[:5] for w in have if len(w) >= 5}
    found = sum(1 for w in wanted if w in have or (len(w) >= 5 and w[:5] in prefixes))
    return found >= share * len(wanted)


_FIRST_PERSON = re.compile(
    r"\b(my|mine|i'm|i’m|i am|i was|i have|i've|i live|i work|i like|i love|i prefer|"
    r"i hate|i need|i moved|i study|call me)\b",
    re.IGNORECASE,
)


def states_facts(message: str) -> bool:
    """Whether a message seems to tell something about its writer ("My name is...",
    "I prefer..."): a statement in the first person, not only a question."""
    text = message.strip()
    return bool(_FIRST_PERSON.search(text)) and not (text.endswith("?") and "." not in text)
