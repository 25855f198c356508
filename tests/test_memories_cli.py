import json

from chat_server import Text, ToolCalls

SEED = "My name is Sarah and I prefer email over phone."
FACT = "Sarah prefers email over phone."
ASK = "What's the best way to reach me?"


def listed(cli, user="sarah"):
    return json.loads(cli("memories", "list", "--user", user, "--json").stdout)


def test_add_then_list_as_a_table(cli):
    assert cli("memories", "add", FACT, "--topic", "Contact", "-u", "sarah").stdout == (
        "added memory 1\n"
    )
    iso = listed(cli)[0]["updated_at"]
    updated = f"{iso[:10]} {iso[11:16]}Z"
    assert cli("memories", "list", "--user", "sarah").stdout == (
        f"ID  MEMORY                           TOPICS   UPDATED\n1   {FACT}  contact  {updated}\n"
    )


def test_list_json_fields(cli):
    cli("memories", "add", FACT, "-t", "contact", "-t", "preferences", "-u", "sarah")
    [row] = listed(cli)
    assert list(row) == ["id", "user_id", "memory", "topics", "created_at", "updated_at"]
    assert (row["id"], row["user_id"], row["memory"], row["topics"]) == (
        1,
        "sarah",
        FACT,
        ["contact", "preferences"],
    )
    assert row["created_at"] == row["updated_at"] and row["created_at"].endswith("Z")


def test_list_by_topic(cli):
    cli("memories", "add", FACT, "-t", "contact", "-u", "sarah")
    cli("memories", "add", "Sarah lives in Oslo.", "-t", "home", "-u", "sarah")
    out = cli("memories", "list", "-u", "sarah", "--topic", "home", "--json")
    assert [m["memory"] for m in json.loads(out.stdout)] == ["Sarah lives in Oslo."]


def test_list_without_memories_says_so_on_stderr(cli):
    out = cli("memories", "list", "-u", "nobody")
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", "no memories for user nobody\n")


def test_adding_the_same_memory_twice(cli):
    cli("memories", "add", FACT, "-u", "sarah")
    assert cli("memories", "add", "sarah prefers EMAIL over phone", "-u", "sarah").stdout == (
        "memory 1 already says that\n"
    )
    assert len(listed(cli)) == 1


def test_search_is_ranked(cli):
    for text in ("Likes coffee.", "Likes black tea.", "Likes green tea."):
        cli("memories", "add", text, "-u", "sarah")
    out = cli("memories", "search", "green tea", "-u", "sarah", "--json")
    assert [m["memory"] for m in json.loads(out.stdout)] == ["Likes green tea.", "Likes black tea."]


def test_search_takes_n_and_0_shows_all(cli):
    for n in range(25):
        cli("memories", "add", f"Likes tea number {n}.", "-u", "sarah")

    def found(*args):
        out = cli("memories", "search", "tea", "-u", "sarah", "--json", *args)
        assert out.exit_code == 0, out.stderr
        return len(json.loads(out.stdout))

    assert (found(), found("-n", "3"), found("--limit", "0"), found("-n", "0")) == (20, 3, 25, 25)


def test_counts_of_one_are_singular(cli, tmp_path):
    cli("memories", "add", FACT, "-u", "sarah")
    path = tmp_path / "one.json"
    path.write_text(cli("memories", "export", "-u", "sarah").stdout)
    out = cli("memories", "import", str(path), "-u", "bob")
    assert out.stdout == "imported 1 memory for user bob (0 already there)\n"
    out = cli("memories", "clear", "-u", "bob", "--yes")
    assert out.stdout == "deleted 1 memory of user bob\n"


def test_edit_keeps_topics_unless_given(cli):
    cli("memories", "add", "Sarah lives in Oslo.", "-t", "home", "-u", "sarah")
    assert cli("memories", "edit", "1", "Sarah lives in Bergen.", "-u", "sarah").stdout == (
        "updated memory 1\n"
    )
    assert [(m["memory"], m["topics"]) for m in listed(cli)] == [
        ("Sarah lives in Bergen.", ["home"])
    ]
    cli("memories", "edit", "1", "Sarah lives in Bergen.", "-t", "city", "-u", "sarah")
    assert listed(cli)[0]["topics"] == ["city"]


def test_another_users_memory_cannot_be_edited_or_deleted(cli):
    cli("memories", "add", FACT, "-u", "sarah")
    for args in (("edit", "1", "hacked"), ("delete", "1"), ("history", "1")):
        out = cli("memories", *args, "-u", "bob")
        assert (out.exit_code, out.stderr) == (1, "agentcli: error: no memory 1 for user 'bob'\n")
    assert [m["memory"] for m in listed(cli)] == [FACT]


def test_delete(cli):
    cli("memories", "add", FACT, "-u", "sarah")
    assert cli("memories", "delete", "1", "-u", "sarah").stdout == "deleted memory 1\n"
    assert listed(cli) == []


def test_clear_asks_and_leaves_other_users(cli):
    cli("memories", "add", "a", "-u", "sarah")
    cli("memories", "add", "b", "-u", "sarah")
    cli("memories", "add", "c", "-u", "bob")
    refused = cli("memories", "clear", "-u", "sarah")
    assert (refused.exit_code, len(listed(cli))) == (2, 2)
    out = cli("memories", "clear", "-u", "sarah", "--yes")
    assert out.stdout == "deleted 2 memories of user sarah\n"
    assert listed(cli) == [] and [m["memory"] for m in listed(cli, "bob")] == ["c"]


def test_history(cli):
    cli("memories", "add", "Sarah lives in Oslo.", "-u", "sarah")
    cli("memories", "edit", "1", "Sarah lives in Bergen.", "-u", "sarah")
    cli("memories", "delete", "1", "-u", "sarah")
    events = json.loads(cli("memories", "history", "1", "-u", "sarah", "--json").stdout)
    assert [(e["action"], e["before"], e["after"], e["actor"]) for e in events] == [
        ("add", None, "Sarah lives in Oslo.", "user"),
        ("update", "Sarah lives in Oslo.", "Sarah lives in Bergen.", "user"),
        ("delete", "Sarah lives in Bergen.", None, "user"),
    ]


def test_export_then_import_for_another_user_twice(cli, tmp_path):
    cli("memories", "add", FACT, "-t", "contact", "-u", "sarah")
    cli("memories", "add", "Sarah lives in Oslo.", "-u", "sarah")
    path = tmp_path / "sarah.json"
    path.write_text(cli("memories", "export", "-u", "sarah").stdout)
    first = cli("memories", "import", str(path), "-u", "bob")
    assert first.stdout == "imported 2 memories for user bob (0 already there)\n"
    again = cli("memories", "import", str(path), "-u", "bob", "--json")
    assert json.loads(again.stdout) == {"user_id": "bob", "added": 0, "skipped": 2}
    mine, theirs = listed(cli), listed(cli, "bob")
    assert [(m["memory"], m["topics"], m["created_at"]) for m in theirs] == [
        (m["memory"], m["topics"], m["created_at"]) for m in mine
    ]


def test_import_needs_only_the_text_and_reads_stdin(cli):
    rows = [
        {"memory": "Likes tea."},
        {"memory": "Lives in Oslo.", "updated_at": "2024-05-01T12:00:00+02:00"},
    ]
    assert cli("memories", "import", "-", "-u", "sarah", input=json.dumps(rows)).exit_code == 0
    assert [(m["memory"], m["updated_at"]) for m in listed(cli)][1] == (
        "Lives in Oslo.",
        "2024-05-01T10:00:00.000Z",
    )


def test_import_refuses_a_bad_row_and_adds_nothing(cli):
    rows = [{"memory": "Likes tea."}, {"text": "no memory key"}]
    out = cli("memories", "import", "-", "-u", "sarah", input=json.dumps(rows))
    assert (out.exit_code, out.stderr) == (
        2,
        'agentcli: error: memory 2: "memory" must be a string\n',
    )
    assert listed(cli) == []


def test_import_10000_rows(cli, tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{"memory": f"Fact number {i}."} for i in range(10_000)]))
    assert cli("memories", "import", str(path), "-u", "sarah").stdout == (
        "imported 10000 memories for user sarah (0 already there)\n"
    )


# -- chat with memory: the first through the installed script ------------------------------


def test_seed_scenario_from_the_shell_agentic(run_cli, server):
    server.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Hello Sarah."))
    first = run_cli("chat", "--user", "sarah", "--session", "thread-42", input=SEED + "\n")
    assert (first.stdout, first.stderr) == (b"Hello Sarah.\n", f"memory added: {FACT}\n".encode())
    run_cli("chat", "--user", "sarah", "--session", "thread-43", input=ASK + "\n")
    assert f"- [1] {FACT}" in server.requests[2]["messages"][0]["content"]
    run_cli("chat", "--user", "bob", "--session", "thread-43", input=ASK + "\n")
    assert FACT not in json.dumps(server.requests[3])
    listing = run_cli("memories", "list", "--user", "sarah").stdout.decode().splitlines()
    assert listing[0].split() == ["ID", "MEMORY", "TOPICS", "UPDATED"]
    assert listing[1].startswith(f"1   {FACT}  ")


def test_seed_scenario_through_the_cli_automatic(cli, server):
    server.script(Text("Noted, Sarah."), ToolCalls([("add_memory", {"memory": FACT})]))
    first = cli("chat", "--memory", "automatic", "-u", "sarah", "-s", "thread-42", input=SEED)
    assert (first.stdout, first.stderr) == ("Noted, Sarah.\n", f"memory added: {FACT}\n")
    cli("chat", "--memory", "automatic", "-u", "sarah", "-s", "thread-43", input=ASK)
    assert f"- {FACT}" in server.requests[2]["messages"][0]["content"]
    listing = cli("memories", "list", "--user", "sarah").stdout.splitlines()
    assert listing[1].startswith(f"1   {FACT}  ")


def test_memory_off_sends_no_tools_and_no_memories(cli, server):
    cli("memories", "add", FACT, "-u", "sarah")
    cli("chat", "--memory", "off", "-u", "sarah", "-s", "t", ASK)
    assert "tools" not in server.requests[0] and FACT not in json.dumps(server.requests[0])


def test_memory_mode_from_the_environment(cli, server):
    cli("chat", "-u", "sarah", "-s", "t", ASK, env={"AGENTCLI_MEMORY": "automatic"})
    assert len(server.requests) == 2 and "tools" not in server.requests[0]


def test_memory_model_flag_names_the_managers_model(cli, server):
    cli("chat", "--memory", "automatic", "--memory-model", "small", "-s", "t", ASK)
    assert [r["model"] for r in server.requests] == ["gpt-4o-mini", "small"]


def test_unknown_memory_mode_is_a_usage_error(cli, server):
    out = cli("chat", "--memory", "sometimes", "-s", "t", ASK)
    assert out.exit_code == 2 and server.requests == []
    assert "memory mode must be one of agentic, automatic, off" in out.stderr
