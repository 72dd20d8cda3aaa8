"""java.text.SimpleDateFormat patterns (as TimestampConverter's `format` and TimestampRouter's
`timestamp.format` take them), formatting and parsing in UTC as those SMTs do.

Supported pattern letters:
  G era (AD)            y year (yy = two digits)   M/L month (M, MM, MMM = Jan, MMMM = January)
  d day of month        D day of year              E day name (EEE = Mon, EEEE = Monday)
  u day number of week (1 = Monday)                a AM/PM marker
  H hour 0-23           k hour 1-24                K hour 0-11               h hour 1-12
  m minute              s second                   S milliseconds (a count of ms, padded: Java's meaning)
  z time zone (UTC, or GMT+hh:mm when parsing)     Z RFC 822 zone (+0000)    X ISO 8601 zone (Z, +01, +0100, +01:00)
Text in single quotes is literal ('' is a quote); other non-letters are literal. The week-based
letters Y, w, W and F are not supported: a pattern using them, or any other letter, is rejected
(Java rejects the other letters too).

Differences from Java: parsing is strict (Java's default lenient mode rolls "2024-13-01" over into
2025; here it fails), and text after the parsed part is ignored, as DateFormat.parse(String) does.
"""

from __future__ import annotations

import datetime
import re

UTC = datetime.timezone.utc
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SUPPORTED = set("GyMLdDEuaHkKhmsSzZX")
NUMERIC = set("yMLdDuHkKhmsS")


class DateFormat:
    """One pattern, compiled once: format(datetime) -> str, parse(str) -> aware UTC datetime."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.tokens = tokenize(pattern)
        self._regex = re.compile(self._parse_regex())

    def format(self, moment: datetime.datetime) -> str:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        return "".join(text if letter is None else _format_field(letter, count, moment)
                       for letter, count, text in self.tokens)

    def parse(self, text: str) -> datetime.datetime:
        """Raises ValueError when `text` does not start with something the pattern describes."""
        match = self._regex.match(text)
        if match is None:
            raise ValueError(f"Unparseable date: \"{text}\"")
        fields = {}
        for index, (letter, count, _) in enumerate(self.tokens):
            if letter is not None:
                fields[letter] = (count, match.group(f"f{index}"))
        return _assemble(fields)

    def _parse_regex(self) -> str:
        parts = []
        for index, (letter, count, text) in enumerate(self.tokens):
            if letter is None:
                parts.append(re.escape(text))
                continue
            following = self.tokens[index + 1][0] if index + 1 < len(self.tokens) else None
            # A number directly followed by another number field ("yyyyMMdd") has a fixed width.
            abutting = following in NUMERIC
            parts.append(f"(?P<f{index}>{_field_regex(letter, count, abutting)})")
        return "".join(parts)


def tokenize(pattern: str) -> list[tuple[str | None, int, str]]:
    """(letter, count, "") for a pattern field, (None, 0, text) for literal text."""
    tokens, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            if pattern.startswith("''", i):
                tokens.append((None, 0, "'"))
                i += 2
                continue
            close = pattern.find("'", i + 1)
            while close >= 0 and pattern.startswith("''", close):  # '' inside quotes is a quote
                close = pattern.find("'", close + 2)
            if close < 0:
                raise ValueError("Unterminated quote")
            tokens.append((None, 0, pattern[i + 1:close].replace("''", "'")))
            i = close + 1
        elif ch.isascii() and ch.isalpha():
            if ch not in SUPPORTED:
                raise ValueError(f"Illegal or unsupported pattern character '{ch}'")
            end = i
            while end < len(pattern) and pattern[end] == ch:
                end += 1
            tokens.append((ch, end - i, ""))
            i = end
        else:
            tokens.append((None, 0, ch))
            i += 1
    return tokens


def _pad(number: int, count: int) -> str:
    return str(number).zfill(count)


def _format_field(letter: str, count: int, moment: datetime.datetime) -> str:
    if letter == "G":
        return "AD"
    if letter == "y":
        return _pad(moment.year % 100, 2) if count == 2 else _pad(moment.year, count)
    if letter in "ML":
        if count >= 4:
            return MONTHS[moment.month - 1]
        return MONTHS[moment.month - 1][:3] if count == 3 else _pad(moment.month, count)
    if letter == "E":
        name = DAYS[moment.weekday()]
        return name if count >= 4 else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    if letter in ("z", "Z", "X"):
        return {"z": "Coordinated Universal Time" if count >= 4 else "UTC", "Z": "+0000", "X": "Z"}[letter]
    numbers = {
        "d": moment.day, "D": moment.timetuple().tm_yday, "u": moment.isoweekday(),
        "H": moment.hour, "k": moment.hour or 24, "K": moment.hour % 12, "h": moment.hour % 12 or 12,
        "m": moment.minute, "s": moment.second, "S": moment.microsecond // 1000,
    }
    return _pad(numbers[letter], count)


def _field_regex(letter: str, count: int, abutting: bool) -> str:
    """The text one field matches when parsing; names match in any case, as Java's do."""
    if letter in ("M", "L") and count >= 3:
        return "(?i:" + "|".join(MONTHS + [m[:3] for m in MONTHS]) + ")"
    if letter == "E":
        return "(?i:" + "|".join(DAYS + [d[:3] for d in DAYS]) + ")"
    if letter == "a":
        return "(?i:AM|PM)"
    if letter == "G":
        return "(?i:AD|BC)"
    if letter == "z":
        return r"(?i:UTC|GMT(?:[+-]\d{1,2}(?::?\d{2})?)?)|[+-]\d{4}"
    if letter == "Z":
        return r"[+-]\d{4}|(?i:UTC|GMT)"
    if letter == "X":
        return r"Z|[+-]\d{2}(?::?\d{2})?"
    return rf"\d{{{count}}}" if abutting else r"\d+"


def _assemble(fields: dict) -> datetime.datetime:
    def number(letter, default):
        return int(fields[letter][1]) if letter in fields else default

    year = number("y", 1970)
    if "y" in fields and fields["y"][0] <= 2 and len(fields["y"][1]) == 2:
        year = _two_digit_year(year)
    month = _month(fields)
    hour = _hour(fields)
    moment = datetime.datetime(year, month, number("d", 1), hour, number("m", 0), number("s", 0), tzinfo=UTC)
    if "D" in fields:
        moment = moment.replace(month=1, day=1) + datetime.timedelta(days=int(fields["D"][1]) - 1)
    # S counts milliseconds, however many digits (Java's meaning: "SSSSSS" of 123456 is 123.456 s).
    moment += datetime.timedelta(milliseconds=number("S", 0))
    return moment - _offset(fields)


def _two_digit_year(two_digits: int) -> int:
    """Java's rule for "yy": the year within 80 years before and 20 after today."""
    this_year = datetime.datetime.now(UTC).year
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 20:
        year -= 100
    elif year <= this_year - 80:
        year += 100
    return year


def _month(fields: dict) -> int:
    letter = "M" if "M" in fields else "L" if "L" in fields else None
    if letter is None:
        return 1
    count, text = fields[letter]
    if count < 3:
        return int(text)
    names = [m.lower() for m in MONTHS]
    text = text.lower()
    return 1 + (names.index(text) if text in names else [m[:3] for m in names].index(text))


def _hour(fields: dict) -> int:
    if "H" in fields:
        return int(fields["H"][1])
    if "k" in fields:
        return int(fields["k"][1]) % 24
    twelve = int(fields["h"][1]) % 12 if "h" in fields else int(fields["K"][1]) if "K" in fields else 0
    pm = "a" in fields and fields["a"][1].upper() == "PM"
    return twelve + 12 if pm else twelve


def _offset(fields: dict) -> datetime.timedelta:
    for letter in ("X", "Z", "z"):
        if letter in fields:
            text = fields[letter][1].upper()
            match = re.search(r"([+-])(\d{1,2}):?(\d{2})?$", text)
            if match is None:  # UTC, GMT, Z
                return datetime.timedelta()
            sign = -1 if match.group(1) == "-" else 1
            return sign * datetime.timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return datetime.timedelta()
