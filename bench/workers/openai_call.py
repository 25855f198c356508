"""A bare script: import openai, make one streamed Chat Completions call, print the reply.

Usage: ``python openai_call.py MODEL PROMPT`` with OPENAI_BASE_URL and OPENAI_API_KEY set.
"""

import sys

import openai

model, prompt = sys.argv[1], sys.argv[2]
stream = openai.OpenAI().chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": prompt}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    for choice in chunk.choices:
        if choice.delta.content:
            sys.stdout.write(choice.delta.content)
            sys.stdout.flush()
sys.stdout.write("\n")
