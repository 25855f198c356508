"""Run agentcli against any OpenAI-compatible endpoint and judge how it copes.

    python bench/interop.py --base-url http://127.0.0.1:8765/v1 --model smollm2
    python bench/interop.py --base-url ... --model ... --markdown   # a table for the README

Every scenario runs the installed ``agentcli`` command as a person would
(replies capped at ``--max-tokens``, 256 by default, to keep a CPU server's
runs short), each in a fresh data directory, through a small recording proxy on 127.0.0.1
that forwards to the endpoint (and, for the stall scenario, stops passing the
reply on while sending SSE keep-alive comments). What is judged is the
protocol and agentcli's behaviour, never the wisdom of the answers:

- doctor: ``agentcli doctor --json`` finds the endpoint usable;
- seed (agentic, automatic, off): facts stated over several runs, then a
  question; every run exits 0 with a reply, token counts are never zero for a
  reply with text, memory tools are used or reported unused, and no memory
  comes from the assistant's words;
- long message: 40,000 characters, then "What is 2+2?" in the same session:
  the long one is answered or refused before any call (exit 2, both sizes
  given), and the short one works;
- long history: four runs of a third of the window each (at most 6,000
  characters), then a short question: never
  a context-length error (with a 900 s timeout: a CPU server reads slowly);
- bounded reply: a reply that would run on, cut by ``--max-tokens 32`` and
  stored with a notice;
- stall: the reply stops arriving but keep-alives do; agentcli gives up within
  the stall limit, closes the connection, and the next request is served;
- requests: over all scenarios, no request refused for its shape and no
  retry of a refusal that would only repeat.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
FACTS = ["My name is Sarah and I prefer email over phone.", "I live in Oslo.", "I like green tea."]
QUESTION = "What's the best way to reach me?"
STALL_LIMIT = 3.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


# -- the recording proxy ---------------------------------------------------------------
class Proxy:
    """Forwards to ``upstream``, records each exchange; can stall streamed replies."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.log: list[dict[str, Any]] = []
        self.stall_after: int | None = None  # pieces of a streamed reply passed on, then pings
        self.client_gone: list[float] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{self.prefix}"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("content-length") or 0)))

            def _forward(self, body: bytes) -> None:
                request = _summary(body)
                upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=900)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                headers["accept-encoding"] = "identity"
                started = time.monotonic()
                try:
                    upstream.request(self.command, self.path, body or None, headers)
                    answer = upstream.getresponse()
                except OSError as exc:
                    self.send_error(502, f"upstream: {exc}")
                    return
                entry = {"method": self.command, "path": self.path, "status": answer.status}
                entry.update(request)
                with proxy._lock:
                    proxy.log.append(entry)
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                stall = proxy.stall_after if request.get("stream") else None
                passed = 0
                pending = b""
                errors: list[bytes] = []
                try:
                    while chunk := answer.read1(65536):
                        if answer.status >= 400 or b'"error"' in chunk[:200]:
                            errors.append(chunk)
                        if stall is not None:  # whole events, then only keep-alives
                            pending += chunk
                            *events, pending = pending.split(b"\n\n")
                            for event in events:
                                self.wfile.write(event + b"\n\n")
                                self.wfile.flush()
                                passed += _carries_text(event)
                                if passed >= stall:
                                    self._ping_until_gone()
                                    return
                            continue
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        passed += len(chunk)
                except OSError:
                    pass
                finally:
                    upstream.close()  # a client gone: the server sees its connection close
                    entry["seconds"] = round(time.monotonic() - started, 2)
                    if errors:
                        entry["error"] = b"".join(errors)[:300].decode("utf-8", "replace")

            def _ping_until_gone(self) -> None:
                try:
                    while True:
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                        time.sleep(0.5)
                except OSError:
                    with proxy._lock:
                        proxy.client_gone.append(time.monotonic())

        return Handler


def _carries_text(event: bytes) -> bool:
    """Whether an SSE event carries a piece of the reply's text."""
    return bool(re.search(rb'"content"\s*:\s*"[^"]', event))


def _summary(body: bytes) -> dict[str, Any]:
    """What matters of a chat request: streamed, tools offered, the reply cap, its size."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    messages = data.get("messages") or [{}]
    system = str(messages[0].get("content") or "") if isinstance(messages[0], dict) else ""
    return {
        "kind": "fold" if system.startswith("You maintain the running summary") else "other",
        "stream": bool(data.get("stream")),
        "tools": bool(data.get("tools")),
        "max_tokens": data.get("max_tokens") or data.get("max_completion_tokens"),
        "bytes": len(body),
        "digest": hash(body),
    }


# -- running agentcli ---------------------------------------------------------------------
class Bench:
    def __init__(self, base_url: str, model: str, max_tokens: int):
        self.proxy = Proxy(base_url)
        self.model = model
        self.max_tokens = max_tokens
        self.window = 8192  # what doctor finds, when it runs first
        self.homes: list[Path] = []

    def home(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="agentcli-interop-"))
        self.homes.append(path)
        return path

    def run(
        self, home: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str, str, float]:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCLI_", "OPENAI_"))}
        full.update(
            AGENTCLI_HOME=str(home),
            AGENTCLI_USER="sarah",
            OPENAI_BASE_URL=self.proxy.url,
            AGENTCLI_MODEL=self.model,
            AGENTCLI_MAX_TOKENS=str(self.max_tokens),
            AGENTCLI_MEMORY_MAX_TOKENS=str(min(self.max_tokens, 128)),
            AGENTCLI_SUMMARY_MAX_TOKENS=str(min(self.max_tokens, 256)),
            NO_COLOR="1",
        )
        full.update(env or {})
        started = time.monotonic()
        out = subprocess.run(
            [AGENTCLI, *args],
            input=(input or "").encode(),
            capture_output=True,
            env=full,
            timeout=900,
        )
        took = time.monotonic() - started
        return out.returncode, out.stdout.decode(), out.stderr.decode(), took

    def memories(self, home: Path) -> list[str]:
        code, out, _, _ = self.run(home, "memories", "list", "--json")
        return [m["memory"] for m in json.loads(out)] if code == 0 else []

    def close(self) -> None:
        self.proxy.stop()
        for path in self.homes:
            shutil.rmtree(path, ignore_errors=True)


Result = tuple[str, bool, str]


def doctor(bench: Bench) -> Result:
    code, out, err, took = bench.run(bench.home(), "doctor", "--json")
    try:
        found = json.loads(out)
    except ValueError:
        return "doctor", False, f"exit {code}: {err.strip()[:200]}"
    window = found["context_window"]
    bench.window = window["tokens"] or bench.window
    detail = (
        f"window {window['tokens']} ({window['source']}); tools "
        f"{'yes' if found['tool_calls'] else 'no'}; usage in streams "
        f"{'yes' if found['stream_usage'] else 'no'}; recommends --memory "
        f"{found['recommended_memory']} ({took:.0f} s)"
    )
    return "doctor", code == 0 and found["usable"], detail


def seed(bench: Bench, mode: str) -> Result:
    home = bench.home()
    problems, notes = [], []
    rejected = 0
    for message in [*FACTS, QUESTION]:
        code, out, err, took = bench.run(
            home, "chat", "-s", "seed", "--memory", mode, "--json", "--usage", message
        )
        if code != 0:
            problems.append(f"exit {code}: {_last_line(err)}")
            continue
        data = json.loads(out)
        rejected += data["memories_rejected"]
        usage = data["usage"]
        if data["content"].strip() and not (usage["input_tokens"] and usage["output_tokens"]):
            problems.append("zero token counts for a reply with text")
        notes += [line for line in err.splitlines() if "warning" in line]
    memories = bench.memories(home)
    said = " ".join(FACTS + [QUESTION])
    from agentcli.core.text import grounded

    foreign = [m for m in memories if not grounded(m, said + " sarah")]
    if foreign:
        problems.append(f"memories not in the user's words: {foreign}")
    tools_noted = any("memory tool" in n or "without memory tools" in n for n in notes)
    if mode == "agentic" and not memories and not tools_noted:
        problems.append("no memory stored and no warning that tools go unused")
    detail = f"{len(memories)} memories, {rejected} rejected"
    if notes:
        detail += "; warned: " + "; ".join(sorted({_gist(n) for n in notes}))
    return f"seed, --memory {mode}", not problems, "; ".join(problems) or detail


def long_message(bench: Bench) -> Result:
    home = bench.home()
    before = len(bench.proxy.log)
    code, _, err, took = bench.run(
        home, "chat", "-s", "long", "--memory", "off", input="blah " * 8000
    )
    chats = [e for e in bench.proxy.log[before:] if e["path"].endswith("/chat/completions")]
    refused = code == 2 and "does not fit the model's context window" in err
    first_ok = code == 0 or (refused and not chats)
    code2, out2, err2, took2 = bench.run(
        home, "chat", "-s", "long", "--memory", "off", "What is 2+2?"
    )
    ok = first_ok and code2 == 0 and out2.strip() != ""
    first = "refused before any call" if refused else f"exit {code}: {_last_line(err)}"
    if code == 0:
        first = f"answered ({took:.0f} s)"
    second = f"then 'What is 2+2?' exit {code2} ({took2:.0f} s)"
    if code2 != 0:
        second += f": {_last_line(err2)}"
    return "40,000-char message, then a short one", ok, f"{first}; {second}"


def long_history(bench: Bench) -> Result:
    home = bench.home()
    codes, errors = [], []
    # A slow server reads a long prompt for minutes: this is about fitting, not speed.
    slow = {"AGENTCLI_TIMEOUT": "900"}
    before = len(bench.proxy.log)
    # Each run about a third of the window by agentcli's count ("lorem " is 6 bytes,
    # 2 tokens), at most 6,000 characters: the history soon no longer fits whole.
    words = min(1000, bench.window // 6)
    for i in range(4):
        code, _, err, _ = bench.run(
            home,
            "chat",
            "-s",
            "hist",
            "--memory",
            "off",
            input=f"Note {i}: " + "lorem " * words,
            env=slow,
        )
        codes.append(code)
        if code not in (0, 2):
            errors.append(_last_line(err))
    code, out, err, took = bench.run(
        home, "chat", "-s", "hist", "--memory", "off", "Thanks!", env=slow
    )
    ok = code == 0 and not errors and not any("context window" in e for e in errors)
    folds = sum(1 for e in bench.proxy.log[before:] if e.get("kind") == "fold")
    detail = (
        f"{len(codes)} runs of {words * 6:,} chars: exits {codes}, then {code} ({took:.0f} s); "
        f"{folds} folds of runs left out"
    )
    if errors or code:
        detail += ": " + "; ".join(errors + ([_last_line(err)] if code else []))
    return "four long runs, then a short one", ok, detail


def bounded(bench: Bench) -> Result:
    home = bench.home()
    prompt = "Write the numbers from 1 to 1000, separated by commas, and nothing else."
    code, out, err, took = bench.run(
        home, "chat", "--memory", "off", "--max-tokens", "32", "--json", prompt
    )
    if code != 0:
        return "reply bounded by --max-tokens 32", False, f"exit {code}: {_last_line(err)}"
    data = json.loads(out)
    cut = data["finish_reason"] == "length" and "reply cut at 32 tokens" in err
    within = data["usage"]["output_tokens"] <= 40
    detail = (
        f"{data['usage']['output_tokens']} tokens, finish {data['finish_reason']}, "
        f"{'notice shown' if cut else 'no notice'} ({took:.1f} s)"
    )
    return (
        "reply bounded by --max-tokens 32",
        within and (cut or data["finish_reason"] == "stop"),
        (detail),
    )


def stall(bench: Bench) -> Result:
    home = bench.home()
    bench.proxy.stall_after = 3  # a few pieces of the reply, then only keep-alives
    gone_before = len(bench.proxy.client_gone)
    env = {"AGENTCLI_STALL_TIMEOUT": str(STALL_LIMIT)}
    try:
        code, _, err, took = bench.run(
            home,
            "chat",
            "--memory",
            "off",
            "--max-tokens",
            "400",
            "Write a long story about a cat.",
            env=env,
        )
    finally:
        bench.proxy.stall_after = None
    time.sleep(1.5)
    closed = len(bench.proxy.client_gone) > gone_before
    code2, _, err2, took2 = bench.run(home, "chat", "--memory", "off", "What is 2+2?")
    stalled = code == 1 and "stalled" in err
    ok = stalled and took < STALL_LIMIT + 15 and closed and code2 == 0
    detail = (
        f"{'gave up' if stalled else 'exit ' + str(code)} after {took:.1f} s "
        f"(limit {STALL_LIMIT:g} s), connection {'closed' if closed else 'left open'}; "
        f"next request exit {code2} in {took2:.1f} s"
    )
    if not stalled:
        detail += f": {_last_line(err)}"
    return "stalled stream (keep-alives only)", ok, detail


def requests(bench: Bench) -> Result:
    """No request refused for its shape; no retry of what would only be refused again."""
    chats = [e for e in bench.proxy.log if e["path"].endswith("/chat/completions")]
    refused = [e for e in chats if e["status"] >= 400 or e.get("error")]
    expected = [e for e in refused if _expected_refusal(e.get("error", ""))]
    shape = [e for e in refused if e not in expected]
    repeats = 0
    for before, after in zip(chats, chats[1:], strict=False):
        if before.get("digest") == after.get("digest") and before in refused:
            retryable = before["status"] in (429, 502, 503, 504)
            repeats += not retryable
    capped = sum(1 for e in chats if e.get("max_tokens"))
    detail = (
        f"{len(chats)} chat requests, {capped} with max_tokens; {len(expected)} refusals "
        f"recognised (tools/context), {len(shape)} for their shape, {repeats} pointless retries"
    )
    if shape:
        detail += ": " + "; ".join(sorted({str(e.get("error", e["status"]))[:120] for e in shape}))
    return (
        "requests (shapes, retries, caps)",
        not shape and not repeats and capped == len(chats),
        (detail),
    )


def _expected_refusal(text: str) -> bool:
    low = text.casefold()
    return "context" in low or "tool" in low or "jinja" in low


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:240] if lines else ""


def _gist(warning: str) -> str:
    """A warning in a few words, for the table."""
    text = warning.removeprefix("agentcli: warning: ")
    known = {
        "called no memory tool": "memory tools unused (said once)",
        "continuing without memory tools": "tools refused (said once)",
        "cannot stream answers that may call tools": "tool rounds unstreamed (said once)",
        "reply cut at": "a reply cut at --max-tokens",
        "summary failed": "a fold failed",
        "memory update failed": "a memory update failed",
    }
    for needle, gist in known.items():
        if needle in text:
            return gist
    return re.sub(r"model call to \S+ failed: ", "", text)[:60]


SCENARIOS = {
    "doctor": doctor,
    "agentic": lambda b: seed(b, "agentic"),
    "automatic": lambda b: seed(b, "automatic"),
    "off": lambda b: seed(b, "off"),
    "long": long_message,
    "history": long_history,
    "bounded": bounded,
    "stall": stall,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the endpoint, e.g. http://host:port/v1")
    parser.add_argument("--model", required=True, help="the model name to ask for")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="some scenarios only")
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="reply cap of every run (CPU servers are slow)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    bench = Bench(args.base_url, args.model, args.max_tokens)
    results: list[Result] = []
    try:
        for name in args.only or list(SCENARIOS):
            started = time.monotonic()
            try:
                results.append(SCENARIOS[name](bench))
            except Exception as exc:  # a broken scenario is a failure, not a crash
                results.append((name, False, f"{type(exc).__name__}: {exc}"))
            print(
                f"{results[-1][0]}: {'pass' if results[-1][1] else 'FAIL'} "
                f"({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
            )
        results.append(requests(bench))
    finally:
        bench.close()
    if args.json:
        print(json.dumps([{"scenario": n, "pass": ok, "detail": d} for n, ok, d in results]))
    elif args.markdown:
        print("| scenario | result | detail |\n|---|---|---|")
        for name, ok, detail in results:
            print(f"| {name} | {'pass' if ok else '**fail**'} | {detail.replace('|', '/')} |")
    else:
        width = max(len(n) for n, _, _ in results)
        for name, ok, detail in results:
            print(f"{name.ljust(width)}  {'pass' if ok else 'FAIL'}  {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
