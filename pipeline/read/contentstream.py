"""A content-stream tokenizer for pdfminer's interpreter: the objects pdfminer's own
``PDFContentParser`` yields, found with a few regular expressions instead of a byte-by-byte
Python state machine.

It follows pdfminer's rules (numbers, names with ``#xx`` escapes, literal strings with its escape
handling, hex strings, arrays, dictionaries, one-character keywords, tokens cut off by the end of
the data dropped). What it does not handle raises ``Unsupported`` and the caller runs pdfminer's
parser on the same streams instead: inline images (BI … ID … EI), procedures, unbalanced arrays or
dictionaries, odd dictionaries.
"""
from __future__ import annotations

import re

from pdfminer.psparser import KWD, LIT, literal_name

_WS = rb" \t\n\r\x0b\x0c"
_DELIM = rb"#/%\[\]()<>{}"
_TOKEN = re.compile(
    rb"[" + _WS + rb"\x00]*(?:"
    rb"(?P<c>%[^\r\n]*)"
    rb"|(?P<n>[-+0-9][0-9]*(?:\.[0-9]*)?|\.[0-9]*)"
    rb"|(?P<k>[A-Za-z][^" + _WS + _DELIM + rb"]*)"
    rb"|/(?P<l>(?:[^" + _WS + _DELIM + rb"]|#[0-9A-Fa-f]{0,2})*)"
    rb"|(?P<s>\()"
    rb"|(?P<d><<)"
    rb"|<(?P<h>[" + _WS + rb"0-9A-Fa-f]*)"
    rb"|(?P<e>>>?)"
    rb"|(?P<o>[^" + _WS + rb"\x00])"
    rb")")
_NAME_HEX = re.compile(rb"#([0-9A-Fa-f]{0,2})")
_SPACE = re.compile(rb"\s")
_HEX_PAIR = re.compile(rb"[0-9a-fA-F]{2}|.", re.S)
_STRING_END = re.compile(rb"[()\\]")
_OCTAL = re.compile(rb"[0-7]{1,3}")
_ESCAPES = {ord(k): v for k, v in {b"n": 10, b"r": 13, b"t": 9, b"b": 8, b"f": 12, b"(": 40, b")": 41, b"\\": 92}.items()}
_BEGIN = {b"[": "a", b"{": "p"}
_INLINE_IMAGE, _IMAGE_DATA = KWD(b"BI"), KWD(b"ID")


class Unsupported(Exception):
    """Content this tokenizer leaves to pdfminer's own parser."""


def objects(data: bytes) -> list:
    """The top-level objects of ``data`` in order: numbers, bools, bytes, ``PSLiteral``, lists,
    dicts and ``PSKeyword`` operators, as ``PDFContentParser.nextobject`` returns them."""
    out: list = []
    stack: list[tuple[str, list]] = []  # open arrays and dictionaries
    cur = out
    pos, end = 0, len(data)
    match = _TOKEN.match
    while pos < end:
        m = match(data, pos)
        if m is None:
            break  # only whitespace left
        kind = m.lastgroup
        tok = m.group(kind)
        pos = m.end()
        if kind == "n" or kind == "k" or kind == "l":
            if pos >= end:
                break  # pdfminer needs a character after the token to emit it
            if kind == "n":
                try:
                    cur.append(float(tok) if b"." in tok else int(tok))
                except ValueError:
                    pass
            elif kind == "k":
                if tok == b"true":
                    cur.append(True)
                elif tok == b"false":
                    cur.append(False)
                else:
                    kw = KWD(tok)
                    if kw is _INLINE_IMAGE or kw is _IMAGE_DATA:
                        raise Unsupported("inline image")
                    cur.append(kw)
            else:
                name = _NAME_HEX.sub(lambda h: bytes((int(h.group(1), 16),)) if h.group(1) else b"", tok)
                try:
                    cur.append(LIT(str(name, "utf-8")))
                except UnicodeDecodeError:
                    cur.append(LIT(name))
        elif kind == "c":
            continue
        elif kind == "s":
            s, pos = _string(data, pos)
            if s is None:
                break
            cur.append(s)
        elif kind == "h":
            if pos >= end:
                break
            cur.append(_HEX_PAIR.sub(lambda h: bytes((int(h.group(0), 16),)), _SPACE.sub(b"", tok)))
        elif kind == "d":
            stack.append(("d", cur))
            cur = []
        elif kind == "e":
            if tok == b">":
                continue  # the end of a hex string, or a stray ">" (pdfminer drops it too)
            if not stack or stack[-1][0] != "d" or len(cur) % 2:
                raise Unsupported("unbalanced dictionary")
            _, parent = stack.pop()
            d = {literal_name(k): v for k, v in zip(cur[0::2], cur[1::2]) if v is not None}
            cur = parent
            cur.append(d)
        else:  # one-character token
            if tok == b"\x00":
                continue
            if tok in _BEGIN:
                if tok == b"{":
                    raise Unsupported("procedure")
                stack.append(("a", cur))
                cur = []
            elif tok == b"]":
                if not stack or stack[-1][0] != "a":
                    raise Unsupported("unbalanced array")
                _, parent = stack.pop()
                parent.append(cur)
                cur = parent
            elif tok == b"}":
                raise Unsupported("procedure")
            else:
                cur.append(KWD(tok))
    if stack:
        raise Unsupported("unclosed array or dictionary")
    return out


def _string(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """A literal string from just after its "(" to its ")": (bytes, position after), or None at
    an unterminated string. pdfminer's rules: balanced parentheses kept, \\n \\r \\t \\b \\f \\( \\)
    \\\\ and octal escapes decoded, any other escaped character dropped (line continuations)."""
    parts = []
    depth = 1
    end = len(data)
    search = _STRING_END.search
    while True:
        m = search(data, pos)
        if m is None:
            return None, end
        j = m.start()
        parts.append(data[pos:j])
        c = data[j]
        if c == 0x5C:  # backslash
            k = j + 1
            if k >= end:
                return None, end
            o = _OCTAL.match(data, k)
            if o:
                code = int(o.group(0), 8)
                if code > 255:
                    raise Unsupported("octal escape above 255")
                parts.append(bytes((code,)))
                pos = o.end()
                continue
            nxt = data[k]
            if nxt in _ESCAPES:
                parts.append(bytes((_ESCAPES[nxt],)))
            elif nxt == 0x0D and k + 1 < end and data[k + 1] == 0x0A:
                k += 1
            pos = k + 1
            continue
        if c == 0x28:
            depth += 1
        else:
            depth -= 1
            if not depth:
                return b"".join(parts), j + 1
        parts.append(data[j:j + 1])
        pos = j + 1

