"""The message helpers every module quotes other libraries' errors and long lists with."""

from pcinpaint.errors import InputError, listed, one_line


def test_one_line_collapses_whitespace_and_cuts():
    exc = ValueError("bad header\n  line 2:\tcolumn   'x'\n")
    assert one_line(exc) == "bad header line 2: column 'x'"
    assert one_line(ValueError("a " * 300)) == ("a " * 100)[:200]
    assert one_line(ValueError("a " * 300), None) == " ".join(["a"] * 300)
    assert one_line(ValueError("word " * 10), 9) == "word word"


def test_one_line_of_an_empty_exception_names_its_class():
    assert one_line(InputError()) == "InputError"
    assert one_line("  \n ") == ""  # plain text has no class to name
    assert one_line("<b>Service\n Unavailable</b>", 80) == "<b>Service Unavailable</b>"


def test_listed_shows_the_first_few_and_counts_the_rest():
    assert listed([]) == ""
    assert listed(["conv1_1"]) == "conv1_1"
    assert listed(["a", "b", "c", "d"]) == "a, b, c, d"
    assert listed(["a", "b", "c", "d", "e", "f"]) == "a, b, c, d, ... (2 more)"
    assert listed(("a", "b", "c"), 2) == "a, b, ... (1 more)"
