"""Tool arguments checked against a tool's JSON schema, answered in the model's terms."""

import pytest

from agentcli.core.tools import Tool, Toolbox, argument_problem

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "loud": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    },
    "required": ["name"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"name": "x"}, None),
        ({"name": "x", "count": "12", "ratio": 2, "loud": False, "tags": [], "extra": {}}, None),
        ({"name": "x", "count": None}, None),
        ({}, "missing argument 'name'"),
        (
            {"name": "x", "foo": 1},
            "unknown argument 'foo' (arguments: name, count, ratio, loud, tags, extra)",
        ),
        ({"name": 1}, "name must be a string"),
        ({"name": "x", "count": 1.5}, "count must be an integer"),
        ({"name": "x", "count": "1e3"}, "count must be an integer"),
        ({"name": "x", "ratio": True}, "ratio must be a number"),
        ({"name": "x", "loud": "yes"}, "loud must be true or false"),
        ({"name": "x", "tags": ["a", 2]}, "tags must be a list of strings"),
        ({"name": "x", "extra": []}, "extra must be an object"),
    ],
)
def test_argument_problems(given, problem):
    assert argument_problem(SCHEMA, given) == problem


def test_a_toolbox_answers_bad_arguments_without_calling_the_tool():
    called = []
    box = Toolbox([Tool("greet", "Greet.", SCHEMA, lambda **kw: called.append(kw) or "hi")])
    assert box.call("greet", '{"nmae": "x"}').startswith("error: greet: unknown argument 'nmae'")
    assert box.call("greet", '{"name": "x", "count": null}') == "hi"
    assert called == [{"name": "x"}]
