"""Security: private files, the API key never written anywhere, no SQL built from input."""

import ast
import stat
from pathlib import Path

import pytest
from chat_server import Drop, Error, ToolCalls
from reliability_model import scripted, turn

import agentcli.adapters.sqlite
from agentcli import OpenAIChat
from agentcli.adapters.sqlite import SqliteDb
from agentcli.config import history_path

KEY = "sk-test-SECRET-8f3a9c2e7b1d4056"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- file permissions ------------------------------------------------------------
def test_a_new_data_directory_is_0700_and_the_database_0600(agentcli_home):
    db = SqliteDb(agentcli_home / "agentcli.db")
    db.ensure_session("u", "s")  # a write: the -wal and -shm files exist while open
    try:
        files = {p.name: mode(p) for p in agentcli_home.iterdir()}
        assert (mode(agentcli_home), files) == (
            0o700,
            {"agentcli.db": 0o600, "agentcli.db-wal": 0o600, "agentcli.db-shm": 0o600},
        )
    finally:
        db.close()


def test_a_database_left_readable_by_others_is_made_private(tmp_path):
    target = tmp_path / "shared.db"
    SqliteDb(target).close()
    target.chmod(0o644)
    db = SqliteDb(target)
    db.ensure_session("u", "s")
    try:
        assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
            "shared.db": 0o600,
            "shared.db-wal": 0o600,
            "shared.db-shm": 0o600,
        }
    finally:
        db.close()


def test_the_cli_creates_private_files(cli, server, agentcli_home):
    assert cli("chat", "-s", "t", "hello").exit_code == 0
    assert (mode(agentcli_home), mode(agentcli_home / "agentcli.db")) == (0o700, 0o600)


# -- the API key -------------------------------------------------------------------
def written_files(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*") if p.is_file()}


def test_the_api_key_is_never_written_to_a_file_or_shown(cli, server, agentcli_home):
    env = {"OPENAI_API_KEY": KEY}
    echo_key = f"Incorrect API key provided: {KEY}. Your key {KEY} is not valid."
    outputs = []
    outputs.append(cli("chat", "--json", "-s", "ok", "hello", env=env))
    server.script(Error(401, echo_key))
    outputs.append(cli("chat", "-s", "denied", "hello", env=env))
    server.script(Error(401, echo_key))
    outputs.append(cli("--traceback", "chat", "-s", "denied", "hello", env=env))
    server.script(*[Error(500, echo_key)] * 4)
    outputs.append(cli("chat", "-s", "flaky", "hello", env=env))
    server.script(Drop(text="partial"))
    outputs.append(cli("chat", "-s", "cut", "hello", env=env))

    assert [o.exit_code for o in outputs] == [0, 1, 1, 1, 1]
    assert "HTTP 401 Incorrect API key provided: ***" in outputs[1].stderr
    assert "Traceback" in outputs[2].stderr
    # The key did travel, to the server only.
    sent = {k.lower(): v for k, v in server.headers[0].items()}
    assert sent["authorization"] == f"Bearer {KEY}"
    leaks = [i for i, o in enumerate(outputs) if KEY in o.stdout + o.stderr]
    assert leaks == []
    files = written_files(agentcli_home)
    assert "agentcli.db" in files
    assert [name for name, data in files.items() if KEY.encode() in data] == []


def test_tracebacks_never_show_local_variables():
    from agentcli.cli import app

    assert app.pretty_exceptions_show_locals is False


def test_the_model_client_and_settings_reprs_hide_the_key(monkeypatch):
    from agentcli.config import load_settings

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert KEY not in repr(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"))
    assert KEY not in repr(load_settings())


# -- no SQL built from input -----------------------------------------------------------
# The SQL text given to execute()/executemany()/executescript() in agentcli/store
# must be built only from literals, module constants, functions of those, and
# ``len()`` of something (a number of placeholders). Parameters carry all input.
STORE = Path(agentcli.adapters.sqlite.__file__).parent
SQL_CALLS = {"execute", "executemany", "executescript"}
PURE_BUILTINS = {"len", "int", "enumerate", "range"}


class SqlSources:
    """Decides whether an expression is built only from constants."""

    def __init__(self, trees: list[ast.Module]):
        self.constants: set[str] = set()
        self.functions = {n.name for t in trees for n in t.body if isinstance(n, ast.FunctionDef)}
        module_assigns = [
            n for t in trees for n in t.body if isinstance(n, ast.Assign | ast.AnnAssign)
        ]
        changed = True
        while changed:  # to a fixed point: constants built from other constants
            changed = False
            for node in module_assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Name)
                        and target.id not in self.constants
                        and node.value is not None
                        and self.safe(node.value, None)
                    ):
                        self.constants.add(target.id)
                        changed = True

    def safe(self, node: ast.AST, scope: ast.AST | None, seen: frozenset = frozenset()) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr | ast.Tuple | ast.List):
            parts = node.values if isinstance(node, ast.JoinedStr) else node.elts
            return all(self.safe(p, scope, seen) for p in parts)
        if isinstance(node, ast.FormattedValue):
            return self.safe(node.value, scope, seen)
        if isinstance(node, ast.BinOp):
            return self.safe(node.left, scope, seen) and self.safe(node.right, scope, seen)
        if isinstance(node, ast.UnaryOp):
            return self.safe(node.operand, scope, seen)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, scope, seen) and self.safe(node.orelse, scope, seen)
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords)]
            func = node.func
            if isinstance(func, ast.Name) and func.id == "len":
                return True  # a number, whatever it counts
            if isinstance(func, ast.Name) and (
                func.id in PURE_BUILTINS or func.id in self.functions
            ):
                return all(self.safe(a, scope, seen) for a in args)
            if isinstance(func, ast.Attribute) and func.attr in ("join", "format"):
                return self.safe(func.value, scope, seen) and all(
                    self.safe(a, scope, seen) for a in args
                )
            return False
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return True
            if scope is None or node.id in seen:
                return node.id in seen  # a cycle (x += ...) adds nothing new
            values = list(_bindings(scope, node.id))
            return bool(values) and all(self.safe(v, scope, seen | {node.id}) for v in values)
        return False


def _bindings(scope: ast.AST, name: str):
    """Every value bound to ``name`` inside a function (None for parameters)."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                yield from _bound(target, node.value, name)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign) and node.value is not None:
            yield from _bound(node.target, node.value, name)
        elif isinstance(node, ast.For | ast.comprehension):
            yield from _bound(node.target, node.iter, name, whole=True)
        elif isinstance(node, ast.arguments):
            every = [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]
            if any(a is not None and a.arg == name for a in every):
                yield ast.Name(id="<parameter>")


def _bound(target: ast.AST, value: ast.AST, name: str, whole: bool = False):
    if isinstance(target, ast.Name) and target.id == name:
        yield value
    elif isinstance(target, ast.Tuple):
        for i, element in enumerate(target.elts):
            part = value if whole else _element(value, i)
            yield from _bound(element, part, name, whole)


def _element(value: ast.AST, index: int) -> ast.AST:
    if isinstance(value, ast.Tuple) and index < len(value.elts):
        return value.elts[index]
    if isinstance(value, ast.IfExp):
        return ast.IfExp(value.test, _element(value.body, index), _element(value.orelse, index))
    return value


def unsafe_sql(sources: dict[str, str]) -> tuple[list[str], int]:
    """SQL calls whose text may come from input, and how many calls were checked."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    judge = SqlSources(list(trees.values()))
    found, checked = [], 0
    for name, tree in trees.items():
        # Database.execute() passes its text through; its callers are checked.
        functions = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name not in SQL_CALLS
        ]
        for function in functions:
            for call in ast.walk(function):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr in SQL_CALLS
                    and call.args
                ):
                    continue
                checked += 1
                if not judge.safe(call.args[0], function):
                    found.append(f"{name}:{call.lineno}: {ast.unparse(call.args[0])[:80]}")
    return found, checked


def test_no_sql_in_the_store_is_built_from_input():
    sources = {p.name: p.read_text() for p in sorted(STORE.glob("*.py"))}
    found, checked = unsafe_sql(sources)
    assert found == []
    assert checked >= 25


@pytest.mark.parametrize(
    "body",
    [
        "conn.execute(f\"SELECT * FROM t WHERE name = '{name}'\")",
        "conn.execute(\"SELECT * FROM t WHERE name = '%s'\" % name)",
        "conn.execute(\"SELECT * FROM t WHERE name = '{}'\".format(name))",
        'sql = "SELECT * FROM t WHERE "\n    sql += name\n    conn.execute(sql)',
        'where = ("a = 1", name) if name else ("", 1)\n    conn.execute(where[1])',
        "conn.execute(self.query)",
    ],
)
def test_the_sql_check_catches_sql_built_from_input(body):
    source = f"def lookup(conn, name):\n    {body}\n"
    assert len(unsafe_sql({"bad.py": source})[0]) == 1


# -- the key in runs with memory and summary calls, and in the REPL -----------------
ECHO_KEY = f"Incorrect API key provided: {KEY}. Your key {KEY} is not valid."
FOLDING = {"AGENTCLI_HISTORY_RUNS": "1", "AGENTCLI_SUMMARY_BATCH": "1"}


@pytest.mark.slow
def test_memory_and_summary_calls_never_write_or_show_the_key(cli, server, agentcli_home):
    server.default = scripted
    env = {"OPENAI_API_KEY": KEY, **FOLDING}
    automatic = ("--memory", "automatic", "-s", "k")
    server.script(ToolCalls([("add_memory", {"memory": "Sarah keeps bees."})]))
    outputs = [cli("chat", "-s", "k", "one", env=env)]  # an agentic tool call
    outputs.append(cli("chat", *automatic, "two", env=env))  # the manager, then a fold
    server.script(scripted, Error(401, ECHO_KEY))  # the manager's call refused
    outputs.append(cli("chat", *automatic, "three", env=env))
    server.script(scripted, scripted, Error(401, ECHO_KEY))  # the fold refused
    outputs.append(cli("chat", *automatic, "four", env=env))
    outputs.append(cli("chat", "--memory", "off", "--no-summaries", "-s", "k", "5", env=env))
    server.script(Error(401, ECHO_KEY))
    outputs.append(cli("summarize", "-s", "k", env=env))

    assert [o.exit_code for o in outputs] == [0, 0, 0, 0, 0, 1]
    for i, failed in ((2, "memory update"), (3, "summary")):
        assert (
            f"{failed} failed: model call to {server.url} failed: HTTP 401 Incorrect API key "
            "provided: ***" in outputs[i].stderr
        )
    assert "HTTP 401 Incorrect API key provided: ***" in outputs[5].stderr
    assert [i for i, o in enumerate(outputs) if KEY in o.stdout + o.stderr] == []
    assert {r.purpose for r in server.requests} == {"chat", "memory", "summary"}
    assert {h["authorization"] for h in server.headers} == {f"Bearer {KEY}"}  # only there
    files = written_files(agentcli_home)
    assert "agentcli.db" in files
    assert [name for name, data in files.items() if KEY.encode() in data] == []


def turned(request, message: str) -> bool:
    return request.purpose == "memory" and turn(request) == message


def test_a_repl_session_writes_the_key_nowhere_and_every_file_is_private(server, agentcli_home):
    import io
    import os

    import pexpect
    from conftest import AGENTCLI

    server.default = scripted
    env = {**os.environ, "TERM": "xterm", "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": KEY}
    env.update(FOLDING, AGENTCLI_MEMORY="automatic", PROMPT_TOOLKIT_NO_CPR="1")
    child = pexpect.spawn(
        AGENTCLI,
        ["chat", "-u", "sarah", "-s", "k"],
        env=env,
        encoding="utf-8",
        timeout=30,
        preexec_fn=lambda: os.umask(0),  # what the files get is agentcli's doing alone
    )
    child.logfile_read = io.StringIO()
    for text in ("hello", "again"):
        child.expect("›")
        child.send(text + "\r")
        child.expect(f"echo: {text}")
    # The memory manager's call about the next message is refused, echoing the key.
    server.default = lambda r: Error(401, ECHO_KEY) if turned(r, "third") else scripted(r)
    child.expect("›")
    child.send("third\r")
    child.expect("memory update failed: .*provided: \\*\\*\\*")
    child.expect("›")
    child.send("/exit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert KEY not in child.logfile_read.getvalue()
    assert {r.purpose for r in server.requests} == {"chat", "memory", "summary"}

    files = written_files(agentcli_home)
    history = history_path("sarah")
    assert "+third" in history.read_text()  # the REPL's input history was written
    assert [name for name, data in files.items() if KEY.encode() in data] == []
    modes = {str(p.relative_to(agentcli_home)): mode(p) for p in agentcli_home.rglob("*")}
    assert modes == {
        "agentcli.db": 0o600,
        "history": 0o700,
        str(history.relative_to(agentcli_home)): 0o600,
        "endpoints.json": 0o600,  # what was learned about the endpoint: never the key
        "models.json": 0o600,  # the endpoint's model names, for completion
    }
    assert mode(agentcli_home) == 0o700
