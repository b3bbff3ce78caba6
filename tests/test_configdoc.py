"""The configuration reference renderer (``pcinpaint.configdoc``): every key of a schema becomes a
table row with its type, default, limits and description, and every nested block its section."""

from pcinpaint.configdoc import HEADER, render

SCHEMA = {
    "description": "the top | level",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "description": "a name\n  over two lines"},
        "mode": {"enum": ["fast", 2], "default": "fast"},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.5},
        "sizes": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
        "either": {"oneOf": [{"type": "integer"}, {"type": "null"}]},
        "block": {"$ref": "#/$defs/block", "default": {}},
        "items": {"type": "array", "items": {"$ref": "#/$defs/block"}},
        "named": {"type": "object", "additionalProperties": {"$ref": "#/$defs/block"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "$defs": {"block": {"type": "object", "properties": {"x": {"type": ["integer", "null"], "default": None}}}},
}


def _row(page: str, key: str) -> list[str]:
    """The cells of the first table row of ``key``."""
    line = next(line for line in page.splitlines() if line.startswith(f"| `{key}` |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_each_key_gets_its_type_default_limits_and_description():
    page = render(SCHEMA)
    assert page.startswith(HEADER.rstrip()) and page.endswith("\n") and not page.endswith("\n\n")
    assert _row(page, "name") == ["`name`", "string", "", "**required.** a name over two lines (matches `^[a-z]+$`)"]
    assert _row(page, "mode") == ["`mode`", 'one of `"fast"`, `2`', '`"fast"`', ""]
    assert _row(page, "ratio") == ["`ratio`", "number", "`0.5`", "> 0, <= 1"]
    assert _row(page, "sizes")[1:] == ["list of integer", "", "at least 1 item(s), at most 3 item(s)"]
    assert _row(page, "either")[1] == "integer or null"
    assert _row(page, "labels")[1] == "mapping to string"


def test_a_pipe_in_a_description_cannot_break_the_table():
    page = render(SCHEMA)
    assert "the top \\| level" in page
    assert "the top | level" not in page


def test_nested_blocks_get_their_own_sections_in_key_order():
    page = render(SCHEMA)
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    assert sections == ["## Top level", "## `block`", "## `items[]`", "## `named.<name>`"]
    # a block whose keys carry their own defaults shows none of its own; its keys do
    assert _row(page, "block")[1:3] == ["object", ""]
    assert _row(page, "x")[1:3] == ["integer or null", "`null`"]


def test_the_workflows_own_schema_renders_every_dataset_key():
    page = render()
    assert page.startswith("# Configuration reference")
    assert "## `datasets.<name>`" in page
    assert "| `channels` |" in page
