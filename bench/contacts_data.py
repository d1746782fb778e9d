"""Deterministic, realistic contact CSVs for the benchmark, streamed to disk.

Phones are valid numbers in four regions (US, GB, GR, DE) written the ways
merchants' files hold them: mostly E.164, some US national format, some
international with spaces. Every number is unique: each prefix walks its
suffix space through a fixed bijection, so no phone repeats by accident and
no lookup table is needed. One row in 500 is deliberately bad (invalid phone,
bad email, or a repeated phone) so the error report path is exercised too.

Alongside the CSV, the clean rows the import should end up storing are written
in COPY text format: the baseline loads exactly those.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers

HEADER = ["phone", "first_name", "last_name", "email", "gender", "birth_date", "consent", "tags"]
# (E.164 prefix digits, suffix digits, smallest suffix, share of rows)
PREFIXES = [
    ("1212", 7, 2_000_000, 0.18),
    ("1415", 7, 2_000_000, 0.18),
    ("1646", 7, 2_000_000, 0.17),
    ("1718", 7, 2_000_000, 0.17),
    ("447400", 6, 0, 0.05),
    ("447800", 6, 0, 0.05),
    ("3069", 8, 0, 0.10),
    ("49151", 8, 0, 0.05),
    ("49170", 8, 0, 0.05),
]
STRIDE = 1_000_003  # prime: k -> k * STRIDE mod space is a bijection on each suffix space
OFFSET = 424_242
# fmt: off
FIRST_NAMES = """
    Maria Eleni Georgia Sophia Anna Olivia Emma Ava Mia Charlotte Amelia Zoë Chloé Hannah Lena
    Lea Laura Julia Sarah Emily Grace Ruby Isla Freya Αικατερίνη Δήμητρα Ελένη Χρύσα Marco John
    James Robert Michael William David Richard Joseph Thomas Daniel Matthew George Harry Oliver
    Jack Noah Leon Lukas Felix Jonas Łukasz Giorgos Nikos Dimitris Kostas Γιάννης Νίκος Andreas
    Stefan Markus Mark Martin Marcus
"""
LAST_NAMES = """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez Lopez Wilson Anderson Taylor
    Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Young King Wright Scott
    Green Baker Adams Nelson Hill Campbell Mitchell Roberts Papadopoulou Papadopoulos Georgiou
    Nikolaou Pappas Oikonomou Παπαδοπούλου Γεωργίου Müller Schmidt Schneider Fischer Weber Meyer
    Wagner Becker Schulz Hoffmann Evans Edwards Hughes Morgan Murphy O'Brien Kelly Marshall Markov
    Marino
"""
TAG_NAMES = """vip newsletter wholesale returning black_friday summer-sale instagram facebook
    store:athens store:berlin tier/gold tier/silver b2b reviewer"""
# fmt: on
FIRST, LAST = FIRST_NAMES.split(), LAST_NAMES.split()
TAGS = [tag.replace("_", " ") for tag in TAG_NAMES.split()]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "example.gr"]
CONSENT = [("subscribed", 0.45), ("unsubscribed", 0.10), ("pending", 0.05), ("", 0.40)]
BAD_EVERY = 500
NULL = "\\N"  # COPY text format
EVIDENCE = "CSV import #1 (merchant attested consent)"


@dataclass
class Dataset:
    csv_path: Path
    copy_contacts: Path
    copy_tags: Path
    copy_events: Path
    rows: int = 0
    good: int = 0
    bad: int = 0
    tag_rows: int = 0
    consent_rows: int = 0
    size_bytes: int = 0
    sample_email: str = ""
    counts: dict = field(default_factory=dict)


def check_prefixes(samples: int = 200) -> None:
    """Every prefix must yield valid numbers across its whole suffix space."""
    rng = random.Random(0)
    for digits, width, low, _ in PREFIXES:
        for _ in range(samples):
            number = f"+{digits}{low + rng.randrange(10**width - low):0{width}d}"
            if not phonenumbers.is_valid_number(phonenumbers.parse(number)):
                raise RuntimeError(f"bench phone prefix +{digits} yields invalid {number}")


def _display(phone: str, style: float) -> str:
    """The way a merchant's file writes the number (all parse to the same E.164)."""
    if style < 0.80:
        return phone
    if phone.startswith("+1") and style < 0.95:
        return f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"  # shop region is US
    return f"{phone[:3]} {phone[3:6]} {phone[6:]}" if not phone.startswith("+1") else phone


def _pick(rng: random.Random, weighted) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def generate(directory: Path, rows: int, seed: int = 20261128) -> Dataset:
    """Write the CSV and the clean COPY files; return what they hold."""
    check_prefixes()
    rng = random.Random(seed)
    data = Dataset(*(directory / name for name in ("contacts.csv", "c.copy", "t.copy", "e.copy")))
    used = [0] * len(PREFIXES)
    prefix_weights = [(i, p[3]) for i, p in enumerate(PREFIXES)]
    phones: list[str] = []  # a small window, for the deliberate duplicates
    with (
        data.csv_path.open("w", newline="", encoding="utf-8") as out,
        data.copy_contacts.open("w", encoding="utf-8") as copy_c,
        data.copy_tags.open("w", encoding="utf-8") as copy_t,
        data.copy_events.open("w", encoding="utf-8") as copy_e,
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            index = _pick(rng, prefix_weights)
            digits, width, low, _ = PREFIXES[index]
            k = used[index]
            used[index] += 1
            phone = f"+{digits}{low + (k * STRIDE + OFFSET) % (10**width - low):0{width}d}"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = ""
            if rng.random() < 0.8:
                local = (first[0] if first.isascii() else "k") + (last if last.isascii() else "pap")
                email = f"{local}{n % 9973}@{rng.choice(DOMAINS)}".lower()
            gender = rng.choice(("female", "male", "", "", "f", "m"))
            born = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            born = born if rng.random() < 0.4 else ""
            consent = _pick(rng, CONSENT)
            tags = rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3)))
            row = [_display(phone, rng.random()), first, last, email, gender, born, consent]
            row.append(",".join(tags))
            if n % BAD_EVERY == 0:
                data.bad += 1
                kind = (n // BAD_EVERY) % 3
                if kind == 0:
                    row[0] = phone[:6]  # too short to be a number
                elif kind == 1:
                    row[3] = "not-an-email"
                else:
                    row[0] = phones[len(phones) // 2] if phones else phone[:6]  # repeated phone
                writer.writerow(row)
                continue
            writer.writerow(row)
            phones.append(phone)
            if len(phones) > 1000:
                del phones[:500]
            data.good += 1
            if email and not data.sample_email and n > rows // 2:
                data.sample_email = email
            g = {"f": "female", "m": "male"}.get(gender, gender) or NULL
            state = consent or "not_subscribed"
            values = (str(data.good), phone, first, last, email or NULL, g, born or NULL, state)
            copy_c.write("\t".join(values) + ("\timport\n" if consent else "\t\\N\n"))
            if consent:
                data.consent_rows += 1
                copy_e.write(f"{data.good}\t{consent}\t{EVIDENCE}, line {n + 1}\n")
            data.counts[state] = data.counts.get(state, 0) + 1
            for tag in tags:
                copy_t.write(f"{data.good}\t{tag}\n")
                data.tag_rows += 1
                data.counts["tag:" + tag] = data.counts.get("tag:" + tag, 0) + 1
    data.rows = rows
    data.size_bytes = data.csv_path.stat().st_size
    return data
