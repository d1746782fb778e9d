"""Read a stored CSV upload as a stream of rows, with errors a merchant understands.

Memory stays flat: the file is read from the database one chunk at a time and
decoded incrementally, whatever its size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator

ENCODINGS = {
    "utf-8": "UTF-8 (recommended)",
    "windows-1252": "Windows (Western European)",
    "iso-8859-7": "ISO-8859-7 (Greek)",
    "utf-16": "UTF-16",
}
COLUMN_ALIASES = {
    "phone": ("phone", "phonee164", "phonenumber", "mobile", "mobilephone", "cell", "msisdn"),
    "first_name": ("firstname", "first", "givenname", "name"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "email": ("email", "emailaddress", "mail"),
    "gender": ("gender", "sex"),
    "birth_date": ("birthdate", "birthday", "dateofbirth", "dob"),
    "consent": ("consent", "smsconsent", "smsmarketing", "subscribed", "smsmarketingconsent"),
    "tags": ("tags", "tag", "labels"),
    "orders_count": ("orderscount", "totalorders", "orders", "numberoforders"),
    "amount_spent": ("amountspent", "totalspent", "spent"),
}
# Shopify's customer export, as it is: its phone column falls back to the default
# address's, and its SMS consent column says yes or no (fields.clean_sms_marketing).
SHOPIFY_COLUMNS = {"defaultaddressphone": "phone_fallback", "acceptssmsmarketing": "sms_marketing"}
MAX_FIELD = 4096
DELIMITERS = ",;\t|"


class CsvFileError(ValueError):
    """The file as a whole cannot be imported; nothing was written."""


class _ChunkReader(io.RawIOBase):
    """Adapts an iterator of byte chunks to a readable binary file."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def map_header(header: list[str]) -> dict[str, int]:
    """Field name -> column index; raises CsvFileError when no column holds phones."""
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = _normalise(raw)
        fields = [f for f, aliases in COLUMN_ALIASES.items() if key in aliases]
        for field in fields + ([SHOPIFY_COLUMNS[key]] if key in SHOPIFY_COLUMNS else []):
            positions.setdefault(field, index)
    if "phone" not in positions and "phone_fallback" in positions:
        positions["phone"] = positions.pop("phone_fallback")
    if "phone" not in positions:
        found = ", ".join(h.strip() for h in header if h.strip()) or "none"
        raise CsvFileError(
            f"The file has no phone column (columns found: {found}). "
            "Name the column holding numbers 'phone'."
        )
    return positions


def _detect_encoding(head: bytes, chosen: str) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig" if chosen == "utf-8" else chosen


def _delimiter(sample: str) -> str:
    """Only the delimiter is guessed: the rest of the dialect is RFC 4180's.

    A sniffed dialect also guesses quoting, and a sample without doubled quotes
    turns `doublequote` off, so `"a ""b"" c"` later in the file splits into columns.
    """
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def open_rows(open_chunks: Callable[[], Iterator[bytes]], encoding: str):
    """Return (header, rows iterator of (line_number, fields)) over the stored file."""
    chunks = open_chunks()
    first = next(chunks, b"")
    if not first.strip():
        raise CsvFileError("The file is empty.")
    if b"\x00" in first[:4096] and not first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError("This is not a CSV text file (it contains binary data).")
    codec = _detect_encoding(first, encoding)
    raw = io.BufferedReader(_ChunkReader(_prepend(first, chunks)), buffer_size=1 << 16)
    text = io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
    sample = _safe_sample(text, codec)
    reader = csv.reader(
        _replay(sample, text), dialect=csv.excel, delimiter=_delimiter(sample), strict=True
    )
    header = _next_row(reader, codec)
    if header is None:
        raise CsvFileError("The file is empty.")
    return header, _rows(reader, codec)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _safe_sample(text: io.TextIOWrapper, codec: str) -> str:
    try:
        return text.read(8192)
    except UnicodeDecodeError as exc:
        raise _encoding_error(codec, 1) from exc


def _replay(sample: str, text: io.TextIOWrapper) -> Iterator[str]:
    yield from io.StringIO(sample + text.readline()).readlines() if sample else ()
    yield from text


def _encoding_error(codec: str, line: int) -> CsvFileError:
    name = "UTF-8" if codec.startswith("utf-8") else codec
    return CsvFileError(
        f"The file is not valid {name} text (near line {line}). "
        "Save it as 'CSV UTF-8' or choose the file's encoding on the import form."
    )


def _next_row(reader, codec: str) -> list[str] | None:
    try:
        return next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _read_error(exc, reader, codec) from exc


def _read_error(exc: Exception, reader, codec: str) -> CsvFileError:
    if isinstance(exc, UnicodeDecodeError):
        return _encoding_error(codec, reader.line_num + 1)
    return CsvFileError(f"Line {reader.line_num}: the CSV is malformed ({exc}).")


def _rows(reader, codec: str) -> Iterator[tuple[int, list[str]]]:
    strip = str.strip  # map() over C functions: this loop runs once per row of the file
    try:
        for row in reader:
            if not (row and row[0].strip()) and not any(map(strip, row)):
                continue  # blank (the first cell, usually the phone, settles most rows)
            if max(map(len, row)) > MAX_FIELD:
                raise CsvFileError(
                    f"Line {reader.line_num}: a field is longer than {MAX_FIELD} characters."
                )
            if "\x00" in "".join(row):  # csv accepts NUL; PostgreSQL text never does
                raise CsvFileError(f"Line {reader.line_num}: contains a NUL byte (binary data).")
            yield reader.line_num, row
    except (UnicodeDecodeError, csv.Error) as exc:  # raised by the reader, never by a consumer
        raise _read_error(exc, reader, codec) from exc
