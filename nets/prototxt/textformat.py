"""A small, strict parser of protobuf TEXT format (what a Caffe .prototxt is), without Caffe or a compiled schema.

It knows the syntax only: ``name: value``, ``name { ... }`` (also ``name: { ... }`` and ``< ... >``),
``name: [v1, v2]`` lists, quoted strings with C escapes (adjacent strings join), numbers, identifiers (enum
values, true/false), ``#`` comments, and an optional ``,`` or ``;`` after a field. Which fields exist and which
may repeat is the caller's business (nets.prototxt.schema holds Caffe's, nets.prototxt.reader applies it).
Every value keeps its line and column, and every error names them: ``FILE:LINE:COL: expected ..., found ...``.

>>> msg = parse('layer { name: "conv1" convolution_param { kernel_size: 3 } }')
>>> msg.messages("layer")[0].scalar("name").text
'conv1'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Field", "Message", "PrototxtError", "Scalar", "parse"]


class PrototxtError(ValueError):
    """The text is not valid protobuf text format, or not the NetParameter the kit expected."""

    def __init__(self, source: str, line: int, col: int, message: str):
        where = f"{source}:{line}:{col}" if col else f"{source}:{line}"  # col 0: an error about a whole field
        super().__init__(f"{where}: {message}")
        self.source, self.line, self.col = source, line, col


@dataclass(frozen=True)
class Scalar:
    """A scalar value as written: ``kind`` is "string" (``text`` decoded), "number" or "identifier" (``text``
    as written, e.g. "0.5", "-3", "MAX", "true")."""

    kind: str
    text: str
    line: int
    col: int


@dataclass
class Field:
    name: str
    value: Scalar | Message
    line: int
    col: int


@dataclass
class Message:
    """A message: its fields in file order (a repeated field appears once per value)."""

    line: int = 1
    col: int = 1
    source: str = "<string>"
    fields: list[Field] = field(default_factory=list)
    name: str = ""  # the field name this message is the value of ("" at the top level)

    def all(self, name: str) -> list[Field]:
        return [f for f in self.fields if f.name == name]

    def names(self) -> list[str]:
        return list(dict.fromkeys(f.name for f in self.fields))

    def error(self, where: Field | Scalar | Message, message: str) -> PrototxtError:
        return PrototxtError(self.source, where.line, where.col, message)

    def one(self, name: str) -> Field | None:
        """The field ``name`` if set once, None if absent; an error if it is set more than once."""
        found = self.all(name)
        if len(found) > 1:
            lines = ", ".join(str(f.line) for f in found)
            raise self.error(found[1], f"field {name!r} is set {len(found)} times (lines {lines}); it takes one "
                                       "value: remove all but one")
        return found[0] if found else None

    def scalar(self, name: str) -> Scalar | None:
        f = self.one(name)
        if f is None:
            return None
        if not isinstance(f.value, Scalar):
            raise self.error(f, f"field {name!r} must be a value (name: value), found a message {{ ... }}")
        return f.value

    def scalars(self, name: str) -> list[Scalar]:
        out = []
        for f in self.all(name):
            if not isinstance(f.value, Scalar):
                raise self.error(f, f"field {name!r} must be a value (name: value), found a message {{ ... }}")
            out.append(f.value)
        return out

    def messages(self, name: str) -> list[Message]:
        out = []
        for f in self.all(name):
            if not isinstance(f.value, Message):
                raise self.error(f, f"field {name!r} must be a message (name {{ ... }}), found the value "
                                    f"{f.value.text!r}")
            out.append(f.value)
        return out

    def message(self, name: str) -> Message | None:
        f = self.one(name)
        if f is None:
            return None
        return self.messages(name)[0]


# ---- tokens ------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n\f\v]+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)(?![A-Za-z0-9_.]))
  | (?P<ident>-?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}<>:\[\],;])
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", "'": "'",
            '"': '"', "?": "?"}


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, ident, punct, end
    text: str  # decoded for strings
    raw: str
    line: int
    col: int


def _unescape(body: str, source: str, line: int, col: int) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            if not digits:
                raise PrototxtError(source, line, col + i + 1, "\\x must be followed by hex digits")
            out.append(chr(int(digits.group(), 16)))
            i += 2 + len(digits.group())
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1:]).group()
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        else:
            raise PrototxtError(source, line, col + i + 1, f"unknown escape \\{nxt} in a string; use \\\\ for a "
                                                           "backslash")
    # Text format strings are bytes; Caffe's are UTF-8.
    try:
        return "".join(out).encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return "".join(out)


def _tokens(text: str, source: str) -> Iterator[_Token]:
    """Tokens one at a time (so that a syntax error is reported where the parser meets it), then "end"."""
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        col = pos - line_start + 1
        if m is None:
            bad = text[pos]
            if bad in "\"'":
                raise PrototxtError(source, line, col, "string is not closed before the end of the line: add the "
                                                       f"closing {bad}")
            if bad.isdigit() or bad in "-.":
                word = re.match(r"[-+.\w]+", text[pos:]).group()
                raise PrototxtError(source, line, col, f"malformed number {word!r}; expected an integer (12, -3, "
                                                       "0x1F) or a decimal (0.5, 1e-4)")
            raise PrototxtError(source, line, col, f"unexpected character {bad!r}; expected a field name, a value, "
                                                   "or one of { } < > : [ ] , ;")
        kind = m.lastgroup
        raw = m.group()
        if kind != "space":
            value = _unescape(raw[1:-1], source, line, col + 1) if kind == "string" else raw
            yield _Token(kind, value, raw, line, col)
        newlines = raw.count("\n")
        if newlines:
            line += newlines
            line_start = pos + raw.rindex("\n") + 1
        pos = m.end()
    yield _Token("end", "", "", line, pos - line_start + 1)


# ---- parser ------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, source: str):
        self.source = source
        self.toks = _tokens(text, source)
        self.tok = next(self.toks)

    def fail(self, tok: _Token, expected: str) -> PrototxtError:
        found = "the end of the file" if tok.kind == "end" else repr(tok.raw)
        return PrototxtError(self.source, tok.line, tok.col, f"expected {expected}, found {found}")

    def take(self) -> _Token:
        tok = self.tok
        if tok.kind != "end":
            self.tok = next(self.toks)
        return tok

    def at(self, *punct: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text in punct

    def message_body(self, msg: Message, close: str | None) -> Message:
        while True:
            tok = self.tok
            if close is None and tok.kind == "end":
                return msg
            if close is not None and self.at(close):
                self.take()
                return msg
            if tok.kind != "ident" or tok.text.startswith("-"):
                closing = f" or {close!r} to close the message opened at line {msg.line}" if close else ""
                if tok.kind == "end" and close:
                    raise PrototxtError(self.source, tok.line, tok.col,
                                        f"the {msg.name!r} message opened at line {msg.line}, column {msg.col} "
                                        f"is not closed: add {close!r}")
                if self.at("["):
                    raise self.fail(tok, "a field name (extension fields [name] are not supported)")
                raise self.fail(tok, f"a field name{closing}")
            self.take()
            msg.fields.extend(self.field_value(tok, msg))
            if self.at(",", ";"):
                self.take()

    def nested(self, name_tok: _Token, open_tok: _Token) -> Message:
        close = "}" if open_tok.text == "{" else ">"
        child = Message(open_tok.line, open_tok.col, self.source, name=name_tok.text)
        return self.message_body(child, close)

    def field_value(self, name_tok: _Token, parent: Message) -> list[Field]:
        name = name_tok.text
        colon = self.at(":")
        if colon:
            self.take()
        if self.at("{", "<"):
            child = self.nested(name_tok, self.take())
            return [Field(name, child, name_tok.line, name_tok.col)]
        if not colon:
            raise self.fail(self.tok, f"':' or '{{' after the field name {name!r}")
        if self.at("["):
            open_tok = self.take()
            items: list[Field] = []
            if self.at("]"):
                self.take()
                return items
            while True:
                if self.at("{", "<"):
                    value: Scalar | Message = self.nested(name_tok, self.take())
                else:
                    value = self.scalar(name)
                items.append(Field(name, value, name_tok.line, name_tok.col))
                if self.at(","):
                    self.take()
                    continue
                if self.at("]"):
                    self.take()
                    return items
                raise self.fail(self.tok, f"',' or ']' in the list opened at line {open_tok.line}")
        return [Field(name, self.scalar(name), name_tok.line, name_tok.col)]

    def scalar(self, name: str) -> Scalar:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            text = tok.text
            while self.tok.kind == "string":  # "a" "b" is "ab", as in C
                text += self.take().text
            return Scalar("string", text, tok.line, tok.col)
        if tok.kind == "number":
            self.take()
            return Scalar("number", tok.text, tok.line, tok.col)
        if tok.kind == "ident":
            self.take()
            return Scalar("identifier", tok.text, tok.line, tok.col)
        raise self.fail(tok, f"a value for {name!r} (a number, a \"string\" or an identifier)")


def parse(text: str, source: str = "<string>") -> Message:
    """The top-level message of protobuf text ``text``; ``source`` names it in errors (usually the file path)."""
    return _Parser(text, source).message_body(Message(1, 1, source), None)
