"""Isolation between users, as a property: random interleavings of runs and session
commands across look-alike user ids never let one user's text reach another user's
request, listing or search.

The state machine keeps a model of what each (user, session) thread holds and
checks every request and every listing against it. Memory and summary actions
join as further rules (and their invariants as further checks) once those
parts exist: each rule says what it does to the model, each invariant reads
only the store and the model.
"""

import pytest
from chat_server import Error
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from agentcli import Agent, OpenAIChat, SqliteDb
from agentcli.errors import ModelError, NotFoundError

# Ids that must never match one another: case, a trailing space, a LIKE
# wildcard, a quote, non-ASCII; session ids shared between users.
USERS = ["alice", "Alice", "alice ", "%", "o'brien", "ユーザー"]
SESSIONS = ["s1", "S1", "shared", "'; --"]
HISTORY_RUNS = 3


def word(user: str) -> str:
    """A word that appears only in this user's messages."""
    return f"owner{USERS.index(user)}"


class Isolation(RuleBasedStateMachine):
    server = None  # set by the test

    def __init__(self):
        super().__init__()
        self.db = SqliteDb(":memory:")
        model = OpenAIChat("m", base_url=self.server.url, max_attempts=1)
        self.agent = Agent(model=model, db=self.db, num_history_runs=HISTORY_RUNS)
        self.counter = 0
        # (user, session) -> completed runs [(message, reply)], and every stored message.
        self.completed: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.stored: dict[tuple[str, str], list[str]] = {}
        self.names: dict[tuple[str, str], str] = {}

    def teardown(self):
        self.db.close()

    def message(self, user: str) -> str:
        self.counter += 1
        return f"{word(user)} says {self.counter}"

    # -- rules: what users do -----------------------------------------------------
    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def run(self, user, session):
        text = self.message(user)
        seen = len(self.server.requests)
        result = self.agent.run(text, user_id=user, session_id=session)
        thread = (user, session)
        expected = [m for pair in self.completed.get(thread, [])[-HISTORY_RUNS:] for m in pair]
        sent = [m["content"] for m in self.server.requests[seen]["messages"][1:]]
        assert sent == [*expected, text]
        self.completed.setdefault(thread, []).append((text, result.content))
        self.stored.setdefault(thread, []).extend([text, result.content])

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def failed_run(self, user, session):
        text = self.message(user)
        self.server.script(Error(400, "refused"))
        with pytest.raises(ModelError):
            self.agent.run(text, user_id=user, session_id=session)
        self.stored.setdefault((user, session), []).append(text)

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def delete(self, user, session):
        thread = (user, session)
        if thread in self.stored:
            assert self.db.delete_session(user, session).user_id == user
            del self.stored[thread]
            self.completed.pop(thread, None)
            self.names.pop(thread, None)
        else:
            with pytest.raises(NotFoundError):
                self.db.delete_session(user, session)

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def rename(self, user, session):
        thread = (user, session)
        name = f"{word(user)} named {session}"
        if thread in self.stored:
            self.db.rename_session(user, session, name)
            self.names[thread] = name
        else:
            with pytest.raises(NotFoundError):
                self.db.rename_session(user, session, name)

    # -- invariants: what each user can see -----------------------------------------
    @invariant()
    def listings_hold_only_the_users_own_sessions(self):
        for user in USERS:
            listed = self.db.list_sessions(user)
            assert {s.user_id for s in listed} <= {user}
            assert sorted(s.session_id for s in listed) == sorted(
                session for (owner, session) in self.stored if owner == user
            )
            latest = self.db.latest_session(user)
            assert (latest is None) == (not listed)
            assert latest is None or latest.user_id == user
            for found in listed:
                if (user, found.session_id) in self.names:
                    assert found.name == self.names[(user, found.session_id)]
                else:
                    assert found.name.startswith(word(user))

    @invariant()
    def each_session_shows_exactly_its_own_messages(self):
        for (user, session), texts in self.stored.items():
            found = self.db.require_session(user, session)
            assert [m.content for m in self.db.session_messages(found.pk)] == texts

    @invariant()
    def search_finds_only_the_users_own_messages(self):
        for user in USERS:
            for other in USERS:
                hits = self.db.search_messages(word(other), user)
                assert {h.user_id for h in hits} <= {user}
                if other != user:
                    assert hits == []


@pytest.mark.slow
def test_no_interleaving_leaks_between_users(server):
    Isolation.server = server
    run_state_machine_as_test(
        Isolation,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
