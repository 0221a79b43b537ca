"""The text-format parser under the prototxt reader (nets.prototxt.textformat): protobuf text format without Caffe,
strict, errors at line and column."""

from __future__ import annotations

import pytest

from nets.prototxt.textformat import PrototxtError, parse


def test_fields_messages_lists_and_comments_are_read_with_their_positions():
    msg = parse('name: "n"  # a comment\nlayer {\n  kernel_size: 3 kernel_size: 5\n  shape: [1, 2]\n'
                '  p: { x: -0.5 } q < y: MAX >; r: 1e-4, s: 0x1F\n}\n', "f.prototxt")
    assert msg.scalar("name").text == "n"
    layer = msg.messages("layer")[0]
    assert (layer.line, layer.col) == (2, 7)
    assert [s.text for s in layer.scalars("kernel_size")] == ["3", "5"]
    assert [(s.text, s.line, s.col) for s in layer.scalars("shape")] == [("1", 4, 11), ("2", 4, 14)]
    assert layer.message("p").scalar("x").text == "-0.5"
    assert layer.message("q").scalar("y").kind == "identifier"
    assert [layer.scalar(k).text for k in ("r", "s")] == ["1e-4", "0x1F"]


def test_string_escapes_are_decoded_as_protobuf_writes_them():
    # The reference's param_str, as protobuf's writer escaped Python's single quotes.
    msg = parse(r"""param_str: "{\'seed\': 1337, \'mean\': (104.00699, 116.66877)}" s: 'a\"b' "c" t: "\x41\101\n" """)
    assert msg.scalar("param_str").text == "{'seed': 1337, 'mean': (104.00699, 116.66877)}"
    assert msg.scalar("s").text == 'a"bc'  # adjacent strings join
    assert msg.scalar("t").text == "AA\n"


@pytest.mark.parametrize(("text", "where", "says"), [
    ('layer {\n  name: "x"\n', "f:3:1", "'layer' message opened at line 1, column 7 is not closed"),
    ('layer { name "x" }', "f:1:14", "expected ':' or '{' after the field name 'name'"),
    ('a: "no end\n', "f:1:4", "string is not closed"),
    ("a: 1.2.3", "f:1:4", "malformed number '1.2.3'"),
    ("a { b: }", "f:1:8", "expected a value for 'b'"),
    ("}", "f:1:1", "expected a field name, found '}'"),
    ("a: [1 2]", "f:1:7", "expected ',' or ']' in the list"),
    (r'a: "x\q"', "f:1:7", r"unknown escape \q"),
    ("a: @", "f:1:4", "unexpected character '@'"),
    ("[ext.field]: 1", "f:1:1", "extension fields [name] are not supported"),
])
def test_syntax_errors_name_the_line_and_column(text, where, says):
    with pytest.raises(PrototxtError) as err:
        parse(text, "f")
    assert str(err.value).startswith(where + ": ") and says in str(err.value), str(err.value)


def test_a_singular_field_set_twice_is_an_error_naming_both_lines():
    msg = parse('name: "a"\nname: "b"\n', "f")
    with pytest.raises(PrototxtError, match=r"f:2:1: field 'name' is set 2 times \(lines 1, 2\)"):
        msg.scalar("name")
