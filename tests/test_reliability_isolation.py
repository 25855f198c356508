"""Isolation between users, as a property: random interleavings of runs, memory
changes (by the agent's tools, the automatic manager and the user's own
commands), summary folds and session commands across look-alike user ids never
let one user's text reach another user's request, listing, search or export.

Every text a user causes carries that user's word (``owner3``). The state
machine keeps a model of each (user, session) thread, of what its summary
covers, and of each user's memories; each rule checks the requests it caused
against the model, each invariant reads only the store and the model.
"""

import json
import re

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from reliability_model import listed, summary_lines
from scripted_model import Fail, ScriptedModel, Text, ToolCalls

from agentcli import Agent, views
from agentcli.core.errors import ModelError, NotFoundError
from agentcli.services.memory_edit import forget, import_rows, remember, revise
from agentcli.services.recall import search_memories
from agentcli.services.serialize import memory_event_json as event_json
from agentcli.services.serialize import memory_json, session_document
from agentcli.services.summary import stored_summary

# Ids that must never match one another: case, a trailing space, a LIKE
# wildcard, a quote, non-ASCII; session ids shared between users.
USERS = ["alice", "Alice", "alice ", "%", "o'brien", "ユーザー"]
SESSIONS = ["s1", "S1", "shared", "'; --"]
HISTORY_RUNS = 3
BATCH = 2
OWNER = re.compile(r"owner\d")
# Memory ids the rules aim at: the user's own, another user's, deleted or never used.
TARGETS = st.integers(min_value=1, max_value=24)


def word(user: str) -> str:
    """A word that appears only in what this user causes."""
    return f"owner{USERS.index(user)}"


def owners(data) -> set[str]:
    """Whose words appear anywhere in ``data``."""
    return set(OWNER.findall(json.dumps(data, ensure_ascii=False)))


def pairs(messages) -> list[tuple[str, str | None]]:
    return [(m["role"], m.get("content")) for m in messages]


class Isolation(RuleBasedStateMachine):
    make_store = None  # set by the test: an empty store of one backend

    def __init__(self):
        super().__init__()
        # Chats are echoed, folds list the user messages, the manager changes
        # nothing unless a rule scripts it.
        self.model = ScriptedModel("m")
        self.db = type(self).make_store()
        self.agent = Agent(
            model=self.model,
            db=self.db,
            num_history_runs=HISTORY_RUNS,
            enable_agentic_memory=True,
            update_memory_on_run=True,
            enable_session_summaries=True,
            summary_batch_runs=BATCH,
        )
        self.counter = 0
        # (user, session) -> its completed runs, each as [(role, content)], and how
        # many of them the summary covers; every message stored; names.
        self.completed: dict[tuple[str, str], list[list[tuple]]] = {}
        self.folded: dict[tuple[str, str], int] = {}
        self.stored: dict[tuple[str, str], list[str]] = {}
        self.names: dict[tuple[str, str], str] = {}
        # memory id -> (user, text) now; the user of every id ever given out.
        self.memories: dict[int, tuple[str, str]] = {}
        self.owner_of: dict[int, str] = {}

    def teardown(self):
        self.db.close()

    def message(self, user: str, what: str = "says") -> str:
        self.counter += 1
        return f"{word(user)} {what} {self.counter}"

    def own(self, user: str) -> dict[int, str]:
        return {i: text for i, (owner, text) in sorted(self.memories.items()) if owner == user}

    def added(self, user: str, text: str) -> int:
        memory_id = max(self.owner_of, default=0) + 1  # ids are never reused
        self.memories[memory_id] = (user, text)
        self.owner_of[memory_id] = user
        return memory_id

    # -- a run and what it sent ------------------------------------------------------
    def chat(self, user: str, session: str, text: str):
        """Run one turn; check every request it caused; returns the result and requests."""
        seen = len(self.model.requests)
        thread = (user, session)
        runs = self.completed.get(thread, [])
        folded = self.folded.get(thread, 0)
        memories = self.own(user)
        result = self.agent.run(text, user_id=user, session_id=session)
        sent = self.model.requests[seen:]
        for request in sent:
            assert owners(request) <= {word(user)}
        first = sent[0]
        assert summary_lines(first) == [run[0][1] for run in runs[:folded]]
        assert pairs(first["messages"][1:]) == [m for run in runs[folded:] for m in run] + [
            ("user", text)
        ]
        assert listed(first) == memories
        self.stored.setdefault(thread, []).append(text)
        self.stored[thread].extend(m["content"] for m in result.messages)
        self.completed.setdefault(thread, []).append([("user", text), *pairs(result.messages)])
        # The fold after the run: once BATCH runs have left the window of the last few.
        unfolded = len(self.completed[thread]) - folded
        if unfolded - HISTORY_RUNS >= BATCH:
            self.folded[thread] = folded + unfolded - HISTORY_RUNS
        return result, sent

    # -- rules: what users do -----------------------------------------------------
    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def run(self, user, session):
        self.chat(user, session, self.message(user))

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def failed_run(self, user, session):
        text = self.message(user)
        self.model.script(Fail("refused"))
        with pytest.raises(ModelError):
            self.agent.run(text, user_id=user, session_id=session)
        self.stored.setdefault((user, session), []).append(text)

    @rule(
        user=st.sampled_from(USERS),
        session=st.sampled_from(SESSIONS),
        action=st.sampled_from(["add_memory", "update_memory", "delete_memory"]),
        number=TARGETS,
    )
    def agentic_memory_change(self, user, session, action, number):
        """The chat model calls a memory tool; ids of other users' memories are not found."""
        text = self.message(user, "remembers")
        args = {"memory_id": number} if action != "add_memory" else {}
        if action != "delete_memory":
            args["memory"] = f"{word(user)} fact {self.counter}"
        self.model.script(ToolCalls([(action, args)]), Text(f"{word(user)} did it"))
        mine = self.own(user)
        _, sent = self.chat(user, session, text)
        result = sent[1]["messages"][-1]["content"]  # the tool's answer, sent back
        if action == "add_memory":
            assert result == f"added memory {self.added(user, args['memory'])}"
        elif number not in mine:
            assert result == f"error: no memory {number}"
        elif action == "update_memory":
            assert result == f"updated memory {number}"
            self.memories[number] = (user, args["memory"])
        else:
            assert result == f"deleted memory {number}"
            del self.memories[number]

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def automatic_memory_change(self, user, session):
        """The memory manager, after the run, adds what it learned."""
        text = self.message(user)
        learned = f"{word(user)} learned {self.counter}"
        self.model.script(Text(f"{word(user)} ok"))
        self.model.script(ToolCalls([("add_memory", {"memory": learned})]), purpose="memory")
        result, _ = self.chat(user, session, text)
        assert result.memory_changes == [f"memory added: {learned}"]
        self.added(user, learned)

    @rule(user=st.sampled_from(USERS))
    def user_adds(self, user):
        text = self.message(user, "noted")
        memory, is_new = remember(self.db, user, text, [word(user)])
        assert (memory.id, is_new) == (self.added(user, text), True)

    @rule(user=st.sampled_from(USERS), number=TARGETS)
    def user_edits(self, user, number):
        text = self.message(user, "corrected")
        if number in self.own(user):
            assert revise(self.db, user, number, text).memory == text
            self.memories[number] = (user, text)
        else:
            with pytest.raises(NotFoundError):
                revise(self.db, user, number, text)

    @rule(user=st.sampled_from(USERS), number=TARGETS)
    def user_deletes(self, user, number):
        if number in self.own(user):
            assert forget(self.db, user, number).id == number
            del self.memories[number]
        else:
            with pytest.raises(NotFoundError):
                forget(self.db, user, number)

    @rule(user=st.sampled_from(USERS))
    def user_clears(self, user):
        mine = self.own(user)
        assert self.db.clear_memories(user, actor="user") == len(mine)
        for memory_id in mine:
            del self.memories[memory_id]

    @rule(user=st.sampled_from(USERS), other=st.sampled_from(USERS), number=TARGETS)
    def user_imports(self, user, other, number):
        """An import file naming another user and another memory's id lands in ``user``."""
        texts = [self.message(user, "imported") for _ in range(2)]
        data = [{"id": number, "user_id": other, "memory": text} for text in texts]
        assert self.db.import_memories(user, import_rows(data), actor="user") == 2
        for text in texts:
            self.added(user, text)

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def summarize(self, user, session):
        thread = (user, session)
        seen = len(self.model.requests)
        if thread not in self.stored:
            with pytest.raises(NotFoundError):
                self.agent.summarize_session(user_id=user, session_id=session)
            return
        found = self.agent.summarize_session(user_id=user, session_id=session)
        for request in self.model.requests[seen:]:
            assert owners(request) <= {word(user)}
        self.folded[thread] = len(self.completed.get(thread, []))
        assert (found.user_id, found.session_id, found.runs) == (user, session, self.folded[thread])

    @rule(user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS))
    def delete(self, user, session):
        thread = (user, session)
        if thread in self.stored:
            assert self.db.delete_session(user, session).user_id == user
            del self.stored[thread]
            for kept in (self.completed, self.folded, self.names):
                kept.pop(thread, None)
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
            # -c passes over a session whose every run failed
            usable = [
                s for s in listed if {m.status for m in self.db.session_messages(s.pk)} != {"error"}
            ]
            assert (latest is None) == (not usable)
            assert latest is None or latest.user_id == user
            for found in listed:
                if (user, found.session_id) in self.names:
                    assert found.name == self.names[(user, found.session_id)]
                else:
                    assert found.name.startswith(word(user))

    @invariant()
    def each_session_shows_exactly_its_own_messages_summary_and_exports(self):
        for (user, session), texts in self.stored.items():
            found = self.db.require_session(user, session)
            messages = self.db.session_messages(found.pk)
            assert [m.content for m in messages] == texts
            runs = self.completed.get((user, session), [])
            folded = [f"- {run[0][1]}" for run in runs[: self.folded.get((user, session), 0)]]
            assert found.summary == ("\n".join(folded) or None)
            assert stored_summary(self.db, user, session).summary == found.summary
            exports = [
                views.markdown_export(found, messages),
                session_document(found, messages, full=True),
            ]
            assert owners(exports) <= {word(user)}

    @invariant()
    def search_finds_only_the_users_own_messages(self):
        for user in USERS:
            for other in USERS:
                hits = self.db.search_messages(word(other), user)
                assert {h.user_id for h in hits} <= {user}
                if other != user:
                    assert hits == []

    @invariant()
    def each_user_lists_searches_and_exports_exactly_their_own_memories(self):
        for user in USERS:
            mine = self.db.list_memories(user)
            assert {m.id: m.memory for m in mine} == self.own(user)
            assert owners([memory_json(m) for m in mine]) <= {word(user)}
            for other in USERS:
                found = search_memories(self.db, user, word(other), 100)
                assert {m.id for m in found} == (set(self.own(user)) if other == user else set())

    @invariant()
    def memory_histories_belong_to_their_user_only(self):
        for memory_id, owner in self.owner_of.items():
            for user in USERS:
                if user != owner:
                    with pytest.raises(NotFoundError):
                        self.db.memory_events(user, memory_id)
                    continue
                events = [event_json(e) for e in self.db.memory_events(user, memory_id)]
                assert {e["user_id"] for e in events} == {user}
                assert owners(events) <= {word(user)}


@pytest.mark.slow
def test_no_interleaving_leaks_between_users(request, fresh_store):
    Isolation.make_store = staticmethod(fresh_store)
    # The invariants read every user's view after every step: thousands of
    # queries an example, a round trip each on PostgreSQL, where fewer
    # interleavings keep the test within the suite's time.
    examples = 40 if "sqlite" in request.node.callspec.id else 12
    run_state_machine_as_test(
        Isolation,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
