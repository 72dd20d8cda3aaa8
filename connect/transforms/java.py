"""The few Java behaviours users' SMT configs rely on, in Python: java.util.regex patterns and
Matcher replacement strings (`$1`, `${name}`), String.split, Double.toString, and the strict
number parsing of Integer.parseInt / Double.parseDouble."""

from __future__ import annotations

import decimal
import math
import re
from dataclasses import dataclass


def compile_regex(pattern: str) -> re.Pattern:
    """A Java regex compiled by Python's `re`. The syntax is mostly shared; translated here are
    named groups `(?<name>...)`, back references `\\k<name>`, and quoting `\\Q...\\E`. Possessive
    quantifiers and atomic groups work as they are (Python 3.11). Raises re.error."""
    return re.compile(_translate_regex(pattern))


def _translate_regex(pattern: str) -> str:
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":  # \Q...\E quotes everything up to \E (or the end)
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                out.append(re.escape(pattern[i + 2:end]))
                i = end + 2
                continue
            if nxt == "k" and i + 2 < n and pattern[i + 2] == "<":
                close = pattern.find(">", i + 3)
                if close > 0:
                    out.append(f"(?P={pattern[i + 3:close]})")
                    i = close + 1
                    continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Group:
    """A group reference in a replacement: its number or name."""
    ref: int | str


def parse_replacement(replacement: str, regex: re.Pattern) -> list:
    """A java.util.regex.Matcher replacement string as parts: str literals and Group references.
    `\\x` is a literal x; `$n` takes as many digits as still name an existing group.
    Raises ValueError with Java's message for references that cannot work with `regex`."""
    parts, literal, i = [], [], 0
    while i < len(replacement):
        ch = replacement[i]
        if ch == "\\":
            if i + 1 >= len(replacement):
                raise ValueError("character to be escaped is missing")
            literal.append(replacement[i + 1])
            i += 2
        elif ch == "$":
            if literal:
                parts.append("".join(literal))
                literal = []
            ref, i = _group_reference(replacement, i + 1, regex)
            parts.append(ref)
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def _group_reference(text: str, i: int, regex: re.Pattern):
    if i >= len(text):
        raise ValueError("Illegal group reference: group index is missing")
    if text[i] == "{":
        close = text.find("}", i)
        if close < 0:
            raise ValueError("named capturing group is missing trailing '}'")
        name = text[i + 1:close]
        if not name:
            raise ValueError("named capturing group has 0 length name")
        if name not in regex.groupindex:
            raise ValueError(f"No group with name {{{name}}}")
        return Group(name), close + 1
    if not text[i].isdigit():
        raise ValueError("Illegal group reference")
    number = int(text[i])
    if number > regex.groups:
        raise ValueError(f"No group {number}")
    i += 1
    # Java keeps reading digits while the longer number is still a group of the pattern.
    while i < len(text) and text[i].isdigit() and number * 10 + int(text[i]) <= regex.groups:
        number = number * 10 + int(text[i])
        i += 1
    return Group(number), i


def expand(parts: list, match: re.Match) -> str:
    """The replacement text for one match; a group that did not take part adds nothing (as Java)."""
    return "".join(part if isinstance(part, str) else (match.group(part.ref) or "") for part in parts)


def split(text: str, separator: str) -> list[str]:
    """String.split with a literal separator: trailing empty strings are dropped, as Java does."""
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def list_str(values) -> str:
    """A Java List's toString, as config error messages show lists."""
    return "[" + ", ".join(str(v) for v in values) + "]"


def double_str(value: float) -> str:
    """Double.toString: shortest round-trip digits, scientific ("1.0E10") outside [1e-3, 1e7)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exponent = decimal.Decimal(repr(value)).normalize().as_tuple()
    mantissa = str(digits[0]) + "." + ("".join(map(str, digits[1:])) or "0")
    return ("-" if sign else "") + mantissa + "E" + str(exponent + len(digits) - 1)


INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[fFdD]?")


def parse_int(text: str, bits: int) -> int:
    """Byte/Short/Integer/Long.parseX: optional sign and ASCII digits, in range, else ValueError."""
    if not INTEGER_TEXT.fullmatch(text):
        raise ValueError(f'For input string: "{text}"')
    number = int(text)
    if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
        raise ValueError(f'Value out of range. Value:"{text}"')
    return number


def parse_double(text: str) -> float:
    """Double.parseDouble for decimal text (surrounding blanks and a trailing f/d allowed)."""
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        raise ValueError(f'For input string: "{text}"')
    if stripped[-1] in "fFdD" and not stripped.endswith("Infinity"):
        stripped = stripped[:-1]
    return float(stripped.replace("Infinity", "inf"))


def narrow(number: int, bits: int) -> int:
    """Java's narrowing of an integer to `bits` (two's complement wrap-around)."""
    mask = (1 << bits) - 1
    number &= mask
    return number - (1 << bits) if number >> (bits - 1) else number


def float_to_int(value: float, bits: int) -> int:
    """Java's (byte)/(short)/(int)/(long) cast of a double: NaN is 0, a double first saturates to
    int (or long for 64 bits), then narrows."""
    if math.isnan(value):
        return 0
    wide = 64 if bits == 64 else 32
    low, high = -(1 << (wide - 1)), (1 << (wide - 1)) - 1
    if math.isinf(value):
        whole = high if value > 0 else low
    else:
        whole = max(low, min(high, int(value)))
    return narrow(whole, bits)
