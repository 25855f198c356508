import pytest

from agentcli.core.errors import DuplicateMemoryError, NotFoundError
from agentcli.core.text import normalize_memory


def events(db):
    return db.execute(
        "SELECT memory_id, user_id, action, before, after, actor, run_id FROM memory_events "
        "ORDER BY id"
    ).fetchall()


def add(db, text, user="sarah", **kw):
    return db.add_memory(user, text, kw.pop("topics", []), actor=kw.pop("actor", "user"), **kw)[0]


def test_add_stores_the_memory_and_an_event(db):
    memory, added = db.add_memory(
        "sarah", "Sarah prefers email.", ["contact"], actor="agent", session_id="t", run_id="r1"
    )
    assert added and (memory.id, memory.memory, memory.topics) == (
        1,
        "Sarah prefers email.",
        ["contact"],
    )
    assert (memory.created_session_id, memory.created_run_id) == ("t", "r1")
    assert events(db) == [(1, "sarah", "add", None, "Sarah prefers email.", "agent", "r1")]


def test_normalize_ignores_case_spacing_and_punctuation():
    assert normalize_memory("  Sarah PREFERS   email. ") == "sarah prefers email"


def test_an_identical_memory_is_not_stored_twice(db):
    first = add(db, "Sarah prefers email.")
    again, added = db.add_memory("sarah", "sarah prefers email", [], actor="user")
    assert (again, added) == (first, False)
    assert db.count_memories("sarah") == 1 and len(events(db)) == 1


def test_the_same_text_for_two_users_is_two_memories(db):
    add(db, "Likes tea.", "sarah")
    add(db, "Likes tea.", "bob")
    assert [m.user_id for m in db.list_memories("bob")] == ["bob"]


def test_ids_are_never_reused(db):
    add(db, "one")
    db.delete_memory("sarah", add(db, "two").id, actor="user")
    db.add_memory("sarah", "one", [], actor="user")  # a duplicate uses no id either
    assert add(db, "three").id == 3


def test_update_keeps_the_old_text_in_an_event(db):
    memory = add(db, "Sarah lives in Oslo.")
    db.update_memory(
        "sarah", memory.id, memory="Sarah lives in Bergen.", actor="manager", run_id="r2"
    )
    assert db.get_memory("sarah", memory.id).memory == "Sarah lives in Bergen."
    assert events(db)[-1] == (
        1,
        "sarah",
        "update",
        "Sarah lives in Oslo.",
        "Sarah lives in Bergen.",
        "manager",
        "r2",
    )


def test_update_onto_another_memorys_text_is_refused(db):
    add(db, "Likes tea.")
    other = add(db, "Likes coffee.")
    with pytest.raises(DuplicateMemoryError, match="memory 1 already says that"):
        db.update_memory("sarah", other.id, memory="likes TEA", actor="user")
    assert db.get_memory("sarah", other.id).memory == "Likes coffee."


def test_unchanged_update_writes_no_event(db):
    memory = add(db, "Likes tea.")
    assert db.update_memory("sarah", memory.id, memory="Likes tea.", actor="user") == memory
    assert len(events(db)) == 1


def test_another_users_memory_is_not_found(db):
    memory = add(db, "Sarah's secret.")
    with pytest.raises(NotFoundError, match="no memory 1 for user 'bob'"):
        db.update_memory("bob", memory.id, memory="hacked", actor="agent")
    with pytest.raises(NotFoundError):
        db.delete_memory("bob", memory.id, actor="agent")
    with pytest.raises(NotFoundError):
        db.memory_events("bob", memory.id)
    assert db.list_memories("sarah") == [memory] and len(events(db)) == 1


def test_delete_keeps_the_history(db):
    memory = add(db, "Likes tea.")
    db.delete_memory("sarah", memory.id, actor="user")
    assert [(e.action, e.before, e.after) for e in db.memory_events("sarah", memory.id)] == [
        ("add", None, "Likes tea."),
        ("delete", "Likes tea.", None),
    ]


def test_clear_deletes_only_that_users_memories(db):
    add(db, "a", "sarah")
    add(db, "b", "sarah")
    kept = add(db, "c", "bob")
    assert db.clear_memories("sarah", actor="user") == 2
    assert db.list_memories("sarah") == [] and db.list_memories("bob") == [kept]
    assert [e[:3] for e in events(db)[3:]] == [(1, "sarah", "delete"), (2, "sarah", "delete")]


def test_list_by_topic(db):
    add(db, "Prefers email.", topics=["contact", "preferences"])
    add(db, "Lives in Oslo.", topics=["home"])
    assert [m.memory for m in db.list_memories("sarah", topic="contact")] == ["Prefers email."]


def relevant(db, text, user="sarah"):
    return [m.memory for m, _ in db.relevant_memories(user, text, 10)]


def test_the_index_follows_updates_and_deletes(db):
    memory = add(db, "Sarah lives in Oslo.")
    db.update_memory("sarah", memory.id, memory="Sarah lives in Bergen.", actor="user")
    assert relevant(db, "oslo") == []
    assert relevant(db, "bergen") == ["Sarah lives in Bergen."]
    db.delete_memory("sarah", memory.id, actor="user")
    assert relevant(db, "bergen") == []


def test_relevance_is_scoped_to_the_user_and_stems_words(db):
    add(db, "Bob paints landscapes.", "bob")
    add(db, "Sarah painted a sunrise.", "sarah")
    assert relevant(db, "paint") == ["Sarah painted a sunrise."]


def test_relevance_ranks_rarer_words_first_and_scores_the_best_one(db):
    add(db, "Sarah drinks tea in Oslo.")
    add(db, "Sarah drinks tea at work.")
    add(db, "Sarah drinks tea at home.")
    hits = db.relevant_memories("sarah", "tea in oslo", 10)
    assert [m.memory for m, _ in hits][0] == "Sarah drinks tea in Oslo."
    assert hits[0][1] == 1.0 and all(0 < score < 1 for _, score in hits[1:])


def test_ranking_ignores_other_users_memories(db):
    """The order for one user is the same whatever other users store (no shared statistics)."""
    add(db, "Sarah likes green tea.")
    add(db, "Sarah likes jazz music.")
    before = db.relevant_memories("sarah", "green jazz", 10)
    db.import_memories(
        "bob", [{"memory": f"Bob's jazz record {i}."} for i in range(50)], actor="user"
    )
    assert db.relevant_memories("sarah", "green jazz", 10) == before


def test_a_word_in_too_many_memories_is_not_ranked(db):
    db.import_memories(
        "sarah", [{"memory": f"Fact {i} about tea."} for i in range(1002)], actor="user"
    )
    add(db, "Sarah lives in Oslo.")
    assert relevant(db, "tea oslo") == ["Sarah lives in Oslo."]


def test_a_word_common_only_among_other_users_is_still_ranked(db):
    db.import_memories("bob", [{"memory": f"Bob's tea {i}."} for i in range(1002)], actor="user")
    add(db, "Sarah drinks tea.")
    add(db, "Sarah lives in Oslo.")
    assert relevant(db, "tea") == ["Sarah drinks tea."]


def test_recent_memories_stop_at_the_budget(db):
    for text in ("aaaa", "bbbb", "cccc"):
        add(db, text)
    assert [m.memory for m in db.recent_memories("sarah", 9)[0]] == ["cccc", "bbbb"]
    assert db.recent_memories("sarah", 9)[1] is False
    assert db.recent_memories("sarah", 12)[1] is True


def test_import_skips_known_and_repeated_texts(db):
    add(db, "Likes tea.")
    rows = [{"memory": "likes tea"}, {"memory": "Lives in Oslo.", "topics": ["home"]}]
    assert db.import_memories("sarah", rows + [{"memory": "lives in oslo"}], actor="user") == 1
    assert db.import_memories("sarah", rows, actor="user") == 0
    assert [(m.id, m.memory, m.topics) for m in db.list_memories("sarah")] == [
        (1, "Likes tea.", []),
        (2, "Lives in Oslo.", ["home"]),
    ]
    assert events(db)[-1] == (2, "sarah", "add", None, "Lives in Oslo.", "user", None)


def test_deleting_a_session_keeps_memories(db):
    db.ensure_session("sarah", "thread-42")
    add(db, "Likes tea.", session_id="thread-42")
    db.delete_session("sarah", "thread-42")
    assert db.count_memories("sarah") == 1


def test_a_change_through_the_mcp_server_is_recorded_as_its_actor(db):
    memory, _ = db.add_memory("sarah", "Sarah likes tea.", actor="mcp")
    assert [e.actor for e in db.memory_events("sarah", memory.id)] == ["mcp"]
