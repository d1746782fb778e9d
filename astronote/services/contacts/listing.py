"""Listing contacts at a million rows: keyset pages, indexed search, capped counts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from astronote.extensions import db
from astronote.models import ConsentState, Contact, ContactTag, Shop
from astronote.services.contacts.phones import phone_search_prefix
from astronote.services.sql import count_capped, escape_like, force_custom_plans

PAGE_SIZE = 50
COUNT_CAP = 10_000
PHONE_CHARS = set("+0123456789 ()-.")


@dataclass(frozen=True)
class ContactFilters:
    q: str = ""
    consent: str = ""
    tag: str = ""

    @classmethod
    def from_args(cls, args) -> ContactFilters:
        consent = args.get("consent", "")
        if consent not in {s.value for s in ConsentState}:
            consent = ""
        return cls(
            q=" ".join(args.get("q", "").split())[:100],
            consent=consent,
            tag=args.get("tag", "").strip().lower()[:64],
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.consent or self.tag)


@dataclass
class ContactPage:
    contacts: list[Contact]
    tags: dict[int, list[str]]
    next_cursor: int | None
    matches: int
    matches_capped: bool


def _is_email(term: str) -> bool:
    return "@" in term


def _is_phone(term: str) -> bool:
    return set(term) <= PHONE_CHARS and sum(ch.isdigit() for ch in term) >= 3


def _search_clause(shop: Shop, term: str):
    if _is_email(term):
        return Contact.email.like(escape_like(term.lower()) + "%", escape="\\")
    if _is_phone(term):
        value, exact = phone_search_prefix(term, shop.default_region)
        if exact:
            return Contact.phone == value
        return Contact.phone.like(escape_like(value) + "%", escape="\\")
    words = term.lower().split(" ")
    whole = escape_like(term.lower()) + "%"
    # Each name column matches the whole term ("Mary Ann", "van Dijk"); a two-part
    # term also matches first name exactly plus last-name prefix ("Ada Lovel").
    clauses = [
        func.lower(Contact.first_name).like(whole, escape="\\"),
        func.lower(Contact.last_name).like(whole, escape="\\"),
    ]
    if len(words) > 1:
        rest = escape_like(" ".join(words[1:])) + "%"
        clauses.append(
            and_(
                func.lower(Contact.first_name) == words[0],
                func.lower(Contact.last_name).like(rest, escape="\\"),
            )
        )
    # The term may also be a tag. Only then is that branch added: inside the OR a
    # subquery defeats the planner (no bitmap OR of the name indexes, a blind 50%
    # row estimate), which at a million contacts turns a sparse name search into a
    # full scan.
    if _is_tag(shop, term.lower()):
        clauses.append(Contact.id.in_(_tagged(shop, term.lower())))
    return or_(*clauses)


def _tagged(shop: Shop, tag: str):
    return select(ContactTag.contact_id).where(ContactTag.shop_id == shop.id, ContactTag.tag == tag)


def _is_tag(shop: Shop, tag: str) -> bool:
    return db.session.execute(_tagged(shop, tag).limit(1)).first() is not None


def filtered(shop: Shop, filters: ContactFilters):
    """SELECT Contact.id ... for this shop and these filters (no order, no limit)."""
    query = select(Contact.id).where(Contact.shop_id == shop.id)
    if filters.consent:
        query = query.where(Contact.consent_state == filters.consent)
    if filters.tag:
        query = query.where(Contact.id.in_(_tagged(shop, filters.tag)))
    if filters.q:
        query = query.where(_search_clause(shop, filters.q))
    return query


def list_page(shop: Shop, filters: ContactFilters, after_id: int | None = None) -> ContactPage:
    """One page, newest first, starting below `after_id` (keyset, not OFFSET)."""
    force_custom_plans()
    ids_query = filtered(shop, filters)
    page_query = ids_query.with_only_columns(Contact).order_by(Contact.id.desc())
    if after_id is not None:
        page_query = page_query.where(Contact.id < after_id)
    rows = list(db.session.execute(page_query.limit(PAGE_SIZE + 1)).scalars())
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    whole = len(rows) if after_id is None and not has_more else None
    matches = _matches(shop, filters, ids_query, whole)
    return ContactPage(
        contacts=rows,
        tags=tags_for([c.id for c in rows]),
        next_cursor=rows[-1].id if has_more else None,
        matches=matches,
        matches_capped=matches > COUNT_CAP,
    )


def _matches(shop: Shop, filters: ContactFilters, ids_query, whole: int | None) -> int:
    """count_capped(ids_query, COUNT_CAP), without counting when the answer is known.

    `whole` is the row count when the first page holds the entire result.
    """
    if not filters.active:
        return -1
    if whole is not None:
        return min(whole, COUNT_CAP + 1)
    # Tags carry the shop: counting the tag index alone needs no join to contacts.
    if filters.tag and not (filters.q or filters.consent):
        return count_capped(_tagged(shop, filters.tag), COUNT_CAP)
    name_search = not (_is_email(filters.q) or _is_phone(filters.q))
    if filters.q and name_search and not (filters.tag or filters.consent):
        # A search that is also a tag matches at least everyone so tagged.
        tagged = count_capped(_tagged(shop, filters.q.lower()), COUNT_CAP)
        if tagged > COUNT_CAP:
            return tagged
    return count_capped(ids_query, COUNT_CAP)


def tags_for(contact_ids: list[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = defaultdict(list)
    if contact_ids:
        query = (
            select(ContactTag.contact_id, ContactTag.tag)
            .where(ContactTag.contact_id.in_(contact_ids))
            .order_by(ContactTag.tag)
        )
        for contact_id, tag in db.session.execute(query):
            result[contact_id].append(tag)
    return result
