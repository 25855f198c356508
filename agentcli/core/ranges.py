"""The range of every number agentcli accepts, in one table.

A setting's range holds whether the value comes from a flag, an environment
variable or the config file (``agentcli.config`` checks it once, after
merging them); a command's own numeric options (``sessions list -n``, the
server's port) take theirs from here too. A value outside its range -- a
negative count, 2**63, ``inf``, ``nan`` -- is a usage error naming where it
came from, before anything is opened or sent: never an overflow deep in a
driver, never a stored error run.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Range(NamedTuple):
    """Bounds (inclusive unless ``above`` says the low one is excluded) and a unit."""

    low: int | float
    high: int | float
    unit: str = ""
    integer: bool = True
    above: bool = False  # the value must be more than ``low``, not equal to it

    def holds(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        too_low = value <= self.low if self.above else value < self.low
        return not too_low and value <= self.high

    def describe(self) -> str:
        """E.g. ``0 to 100,000 runs``, ``more than 0 and at most 86,400 seconds``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.above:
            return f"more than {_number(self.low)} and at most {_number(self.high)}{unit}"
        return f"{_number(self.low)} to {_number(self.high)}{unit}"


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def shown(value: object) -> str:
    """A value as a message quotes it: long numbers cut, so one line stays one line."""
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else repr(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = f"{value:,.0f}"
    return text if len(text) <= 40 else text[:37] + "..."


# Most seconds any limit may be: a day.
DAY_SECONDS = 86_400

# The numeric settings, by name (the config file's key; flags and environment
# variables are spelled after it). Each is checked whatever its source.
SETTINGS: dict[str, Range] = {
    "history_runs": Range(0, 100_000, "runs"),
    "memory_budget": Range(0, 1_000_000, "tokens"),
    "summary_batch": Range(1, 10_000, "runs"),
    "timeout": Range(0, DAY_SECONDS, "seconds", integer=False, above=True),
    "stall_timeout": Range(0, DAY_SECONDS, "seconds", integer=False, above=True),
    "context_window": Range(256, 10_000_000, "tokens"),
    "max_tokens": Range(1, 1_000_000, "tokens"),
    "memory_max_tokens": Range(16, 1_000_000, "tokens"),
    "summary_max_tokens": Range(16, 1_000_000, "tokens"),
    "file_limit": Range(1, 100_000_000, "bytes"),  # all the files of one message
    # Generation options (also in [options], roles and -o).
    "temperature": Range(0, 2, integer=False),
    "top_p": Range(0, 1, integer=False),
    "seed": Range(0, 2**32 - 1),  # what every server takes (llama.cpp: 32 bits)
}

# The numeric options of single commands.
LIST_LIMIT = Range(0, 1_000_000)  # sessions list -n (0: all)
SEARCH_LIMIT = Range(0, 1_000_000)  # memories search --limit (0: all)
LAST_RUNS = Range(1, 1_000_000)  # sessions show --last, /history N, /sessions N
PORT = Range(0, 65_535)  # serve --port (0: any free one)
THREADS = Range(1, 1_024)  # serve --threads
SHUTDOWN_TIMEOUT = Range(0, 3_600, "seconds", integer=False)  # serve --shutdown-timeout
