"""Refusals as real servers word them, and what agentcli makes of them."""

import pytest

from agentcli.adapters.openai_errors import (
    context_overflow,
    retryable,
    streamed_tools_refused,
    tools_refused,
)
from agentcli.core.text import estimate_tokens, grounded, states_facts

CONTEXT = {
    "llama.cpp": (
        "request (8210 tokens) exceeds the available context size (8192 tokens), try increasing it",
        (8192, 8210),
    ),
    "llama-cpp-python": ("Requested tokens (8210) exceed context window of 8192", (8192, 8210)),
    "vllm": (
        "This model's maximum context length is 2048 tokens. However, you requested 2100 "
        "tokens (2000 in the messages, 100 in the completion).",
        (2048, 2100),
    ),
    "openai": (
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130001 tokens.",
        (128000, 130001),
    ),
    "bare": ("context_length_exceeded", (None, None)),
}


@pytest.mark.parametrize("text,sizes", CONTEXT.values(), ids=CONTEXT)
def test_context_length_refusals_are_recognised_with_their_sizes(text, sizes):
    assert tuple(context_overflow(text)) == sizes


def test_other_errors_are_not_context_errors():
    assert context_overflow("Invalid API key") is None


TOOLS = {
    "llama.cpp": (500, "tools param requires --jinja flag"),
    "ollama": (400, "registry.ollama.ai/library/gemma:2b does not support tools"),
    "vllm": (400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser'),
    "lm-studio": (400, "This model does not support tool use"),
}


@pytest.mark.parametrize("status,text", TOOLS.values(), ids=TOOLS)
def test_tools_refusals_are_recognised(status, text):
    assert tools_refused(status, text)


def test_streamed_tool_choice_refusal_is_not_a_refusal_of_tools():
    text = "Automatic streaming tool choice is not supported"
    assert (tools_refused(500, text), streamed_tools_refused(text)) == (False, True)


@pytest.mark.parametrize(
    "status,text,count,expected",
    [
        (429, "slow down", 5, True),
        (503, "loading model", 5, True),
        (500, "boom", 1, True),
        (500, "boom", 2, False),
        (500, "messages.1.content: Input should be a valid string", 1, False),
        (400, "bad request", 1, False),
        (404, "not found", 1, False),
    ],
)
def test_what_is_retried(status, text, count, expected):
    assert retryable(status, text, count) is expected


def test_estimates_count_high():
    assert estimate_tokens("a" * 40_000) == 13_334  # English runs about 10,000
    assert estimate_tokens("日本語") == 3  # 9 bytes


@pytest.mark.parametrize(
    "memory,said,expected",
    [
        ("Sarah prefers email over phone.", "My name is Sarah and I prefer email over phone.", 1),
        ("The user is vegetarian.", "I'm vegetarian these days.", 1),
        (
            "This phrase is often used in social media marketing to ask users for information.",
            "What does 'tell me about yourself' mean?",
            0,
        ),
        ("Sarah lives in Bergen.", "I moved to Bergen.", 0),
    ],
)
def test_a_memory_is_grounded_when_most_of_its_words_were_said(memory, said, expected):
    assert grounded(memory, said) is bool(expected)


@pytest.mark.parametrize(
    "message,expected",
    [("My name is Sarah.", True), ("I prefer tea.", True), ("What is 2+2?", False)],
)
def test_messages_that_tell_about_their_writer(message, expected):
    assert states_facts(message) is expected
