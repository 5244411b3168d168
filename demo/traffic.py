"""A realistic, seeded stream of touchpoint records (with duplicates and malformed ones).

People follow journeys of varying intent: newsletter readers who only open emails, researchers
who download and attend webinars, buyers who visit pricing and request a demo. Some start as
anonymous visitors. Event time runs over ``span`` (default 30 days) ending now.

Identity as real tracking reports it (``identity_mix="realistic"``, the default): web tracking
knows only the browser cookie (web visits); web forms know the cookie and the email they ask for
(forms, gated downloads, demo and callback requests, newsletter sign-ups, chats); the email
platform, the webinar platform and the event app know only the email (opens, clicks,
unsubscribes, bounces, webinars, badge scans). Each system keys its records by what it knows.
``identity_mix="cookie_everywhere"`` puts the cookie on every touchpoint of a person instead.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

__all__ = ["Record", "TrafficGenerator", "MALFORMED_KINDS", "FILTERED_KINDS"]

_FIRST = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannes", "Ida", "Jonas",
          "Katrin", "Lukas", "Mia", "Noah", "Olga", "Paul", "Rita", "Simon", "Tara", "Uwe"]
_LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun"]
_COMPANIES = [("Nordwind Logistik", "logistics", 850, "DE"), ("Alpen Software", "software", 120, "AT"),
              ("Rheinmetall Parts", "manufacturing", 4200, "DE"), ("Helvetia Data", "finance", 300, "CH"),
              ("Baltic Retail", "retail", 2100, "PL"), ("Isar Health", "healthcare", 640, "DE"),
              ("Elbe Energy", "energy", 15000, "DE"), ("Nomad Studio", "media", 12, "NL")]
_TITLES = ["CTO", "Head of Marketing", "IT Manager", "Working Student", "VP Sales", "CEO",
           "Marketing Manager", "Software Engineer", "Procurement Lead", "Head of IT"]
_URLS = ["/", "/blog/lead-scoring-basics", "/blog/bant", "/product", "/product/integrations",
         "/pricing", "/pricing/enterprise", "/customers", "/careers", "/docs/getting-started"]
_ASSETS = [("wp-lead-mgmt", "whitepaper"), ("cs-nordwind", "case_study"), ("ds-platform", "datasheet"),
           ("eb-nurturing", "ebook"), ("rp-benchmark-2026", "report")]

#: where people come from, by source type (the seeds' spears, seeds and nets): the campaign,
#: source and channel of the touchpoint that makes a person known, and the campaign's monthly cost
#: in EUR (the demo's costs file)
ORIGINS: dict[str, list[tuple[str, str, str, float]]] = {
    "spears": [("abm-dach-q4", "sdr-team", "outbound_email", 9000.0),
               ("enterprise-cold-calls", "sdr-team", "cold_call", 12000.0)],
    "seeds": [("partner-program", "partner-portal", "partner", 4000.0),
              ("customer-referrals", "customer-referral", "referral", 1500.0)],
    "nets": [("q4-webinar-series", "webinar-platform", "email", 6000.0),
             ("spring-launch", "google", "paid_search", 15000.0),
             ("retargeting", "linkedin", "social", 7000.0),
             ("seo-content", "website", "organic", 2500.0)],
}
_ORIGIN_WEIGHTS = {"spears": 2, "seeds": 1, "nets": 7}
_FREE_MAIL = ("gmail.com", "outlook.com", "gmx.de", "web.de")

#: touchpoints from web forms: they carry the cookie and the contact the form asks for
_WEB_FORMS = frozenset({"form_submit", "download", "demo_request", "callback_request",
                        "newsletter_signup", "chat"})

MALFORMED_KINDS = ("invalid_json", "missing_identity", "unknown_type", "invalid_field", "oversize",
                   "not_an_object")
#: records the hygiene filter rejects (they are well-formed, and go to the DLQ all the same)
FILTERED_KINDS = ("bot_traffic",)
_BOT_AGENTS = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
               "Mozilla/5.0 (compatible; AhrefsBot/7.0)", "python-requests/2.32.3"]
_BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes
    kind: str  # "valid", "duplicate", one of MALFORMED_KINDS or FILTERED_KINDS


@dataclass
class _Person:
    index: int
    intent: float
    email: str
    anonymous_id: str
    lead_id: str | None
    known: bool = False
    profile: dict[str, Any] = field(default_factory=dict)
    origin: tuple[str, str, str, float] = ("seo-content", "website", "organic", 0.0)


class TrafficGenerator:
    def __init__(
        self,
        *,
        people: int = 300,
        seed: int = 7,
        total: int = 10_000,
        span: timedelta = timedelta(days=30),
        end: datetime | None = None,
        duplicate_rate: float = 0.02,
        malformed_rate: float = 0.03,
        bot_rate: float = 0.01,
        max_message_bytes: int = 65536,
        identity_mix: Literal["realistic", "cookie_everywhere"] = "realistic",
    ) -> None:
        self._rng = random.Random(seed)
        # origins and free-mail addresses come from their own stream, so the journeys stay the
        # ones this seed always gave
        self._origin_rng = random.Random(seed * 7919 + 1)
        self._people_count = people
        self._mix = identity_mix
        self._people = [self._person(i) for i in range(people)]
        # cumulative once: choices(weights=…) sums them on every call (the same draws either way)
        self._cum_weights = list(itertools.accumulate(p.intent for p in self._people))
        self._end = end or datetime.now(tz=UTC)
        self._clock = self._end - span
        self._step = span / max(total, 1)
        self._duplicate_rate = duplicate_rate
        self._malformed_rate = malformed_rate
        self._bot_rate = bot_rate
        self._max_bytes = max_message_bytes
        self._sent: list[Record] = []
        self._seq = 0

    def _person(self, i: int) -> _Person:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company, industry, size, country = rng.choice(_COMPANIES)
        other = self._origin_rng
        # the company's site: one of several of the kind (about five people per company, as a
        # B2B buying group is; an account of thousands would be a different benchmark)
        site = other.randrange(max(1, self._people_count // 40))
        domain = company.lower().split()[0] + (f"-{site}" if site else "") + ".example"
        kind = other.choices(list(_ORIGIN_WEIGHTS), weights=list(_ORIGIN_WEIGHTS.values()))[0]
        if other.random() < 0.1:  # a private address: no account unless a form names the company
            domain = other.choice(_FREE_MAIL)
        return _Person(
            origin=other.choice(ORIGINS[kind]),
            index=i,
            intent=rng.betavariate(1.2, 3.0) + 0.02,
            email=f"{first}.{last}{i}@{domain}".lower(),
            anonymous_id=f"cookie-{rng.getrandbits(48):012x}",
            lead_id=f"L{i:05d}" if rng.random() < 0.2 else None,
            profile={"first_name": first, "last_name": last, "company": company,
                     "job_title": rng.choice(_TITLES), "company_size": size,
                     "industry": industry, "country": country},
        )

    @property
    def end(self) -> datetime:
        return self._end

    @staticmethod
    def costs_csv(months: list[str]) -> str:
        """The campaigns' costs for ``months`` (YYYY-MM), as the report's CSV file."""
        lines = ["campaign,period,cost,currency,source_type"]
        for source_type, origins in sorted(ORIGINS.items()):
            for campaign, _, _, monthly in origins:
                lines += [f"{campaign},{month},{monthly:.2f},EUR,{source_type}" for month in months]
        return "\n".join(lines) + "\n"

    def __iter__(self) -> Iterator[Record]:
        return self

    def retime(self, start: datetime, step: timedelta) -> None:
        """Continue the same people's journeys from ``start``, one record every ``step`` of event
        time (e.g. live traffic after a replay of history)."""
        self._clock = start - step
        self._step = step

    def __next__(self) -> Record:
        rng = self._rng
        self._clock += self._step
        if self._sent and rng.random() < self._duplicate_rate:
            original = rng.choice(self._sent[-500:])
            return Record(original.key, original.value, "duplicate")
        if rng.random() < self._malformed_rate:
            return self._malformed()
        if rng.random() < self._bot_rate:
            return self._bot()
        record = self._valid()
        self._sent.append(record)
        del self._sent[:-1000]
        return record

    def _identity(self, person: _Person, kind: str) -> dict[str, Any]:
        """What the system that reports ``kind`` knows of the person (module docstring); the
        first touchpoint with both cookie and contact links the visitor's history to the lead."""
        contact = {"lead_id": person.lead_id} if person.lead_id else {"email": person.email}
        if not person.known:
            return {"anonymous_id": person.anonymous_id}
        if self._mix == "cookie_everywhere" or kind in _WEB_FORMS:
            return {**contact, "anonymous_id": person.anonymous_id}
        if kind == "web_visit":
            return {"anonymous_id": person.anonymous_id}
        return contact

    def _valid(self) -> Record:
        rng = self._rng
        person = rng.choices(self._people, cum_weights=self._cum_weights)[0]
        first_contact = not person.known
        kind, payload = self._touch(person)
        first_contact = first_contact and person.known
        self._seq += 1
        body: dict[str, Any] = {
            "event_id": f"evt-{self._seq:08d}-{rng.getrandbits(32):08x}",
            "type": kind,
            "occurred_at": self._clock.isoformat(timespec="milliseconds"),
            "source": rng.choice(["web", "marketo", "hubspot", "events-app"]),
            **self._identity(person, kind),
            "payload": payload,
        }
        if rng.random() < 0.4:
            body["campaign"] = rng.choice(["q4-webinar-series", "spring-launch", "retargeting"])
        if first_contact:  # what made the person known came from where they came from
            body["campaign"], body["source"], body["channel"] = person.origin[:3]
        if kind == "web_visit":
            body["user_agent"] = _BROWSER
        # each system keys by what it knows: one system's records of a person stay in order
        key = body.get("anonymous_id") or body.get("email") or body.get("lead_id")
        return Record(str(key).encode(), json.dumps(body).encode(), "valid")

    def _bot(self) -> Record:
        rng = self._rng
        self._seq += 1
        cookie = f"cookie-bot-{rng.getrandbits(16):04x}"
        body = {"event_id": f"evt-{self._seq:08d}-{rng.getrandbits(32):08x}", "type": "web_visit",
                "occurred_at": self._clock.isoformat(timespec="milliseconds"), "source": "web",
                "anonymous_id": cookie, "user_agent": rng.choice(_BOT_AGENTS),
                "payload": {"url": rng.choice(_URLS)}}
        return Record(cookie.encode(), json.dumps(body).encode(), "bot_traffic")

    def _touch(self, person: _Person) -> tuple[str, dict[str, Any]]:
        rng = self._rng
        if not person.known:
            # anonymous browsing until a form, scan or request makes the person known
            if rng.random() < 0.35 + person.intent / 2:
                person.known = True
                kind = rng.choices(["form_submit", "event_scan", "newsletter_signup"], [6, 2, 3])[0]
                return kind, self._identifying_payload(kind, person)
            return "web_visit", {"url": rng.choice(_URLS)}
        intent = person.intent
        options = {
            "email_open": 30, "email_click": 10, "web_visit": 22, "download": 8,
            "webinar": 5, "form_submit": 4, "chat": 2, "demo_request": 1 + 8 * intent,
            "callback_request": 0.5 + 3 * intent, "unsubscribe": 1.2 * (1 - intent),
            "email_bounce": 0.5, "event_scan": 2,
        }
        kind = rng.choices(list(options), weights=list(options.values()))[0]
        return kind, self._payload(kind, person)

    def _identifying_payload(self, kind: str, person: _Person) -> dict[str, Any]:
        if kind == "newsletter_signup":
            return {"list_id": "monthly"}
        return self._payload(kind, person)

    def _payload(self, kind: str, person: _Person) -> dict[str, Any]:
        rng = self._rng
        msg = f"mail-{rng.randint(1, 40):03d}"
        if kind == "email_open":
            return {"message_id": msg}
        if kind == "email_click":
            return {"message_id": msg, "url": rng.choice(_URLS)}
        if kind == "web_visit":
            pricing = rng.random() < 0.1 + person.intent / 3
            url = rng.choice(["/pricing", "/pricing/enterprise"]) if pricing else rng.choice(_URLS)
            return {"url": url, "duration_s": round(rng.uniform(3, 600), 1)}
        if kind == "download":
            asset_id, asset_kind = rng.choice(_ASSETS)
            return {"asset_id": asset_id, "asset_kind": asset_kind}
        if kind == "webinar":
            return {"webinar_id": "wb-2026-11", "status": rng.choice(["registered", "attended"])}
        if kind in ("form_submit", "event_scan"):
            profile = dict(person.profile)
            base = {"profile": profile}
            if rng.random() < 0.3:
                base["bant"] = {"authority": person.profile["job_title"] in ("CTO", "CEO", "VP Sales"),
                                "timeline": rng.choice(["immediate", "quarter", "year", "none"])}
            if kind == "form_submit":
                return {"form_id": rng.choice(["contact", "whitepaper-gate", "trial"]), **base}
            return {"event_name": "DMEXCO 2026", **base}
        if kind in ("demo_request", "callback_request"):
            return {"product": "leadstream cloud", "profile": dict(person.profile)}
        if kind == "chat":
            return {"summary": "asked about CRM integration"}
        if kind == "unsubscribe":
            return {"scope": "all"}
        if kind == "email_bounce":
            return {"bounce": rng.choice(["hard", "soft"])}
        if kind == "newsletter_signup":
            return {"list_id": "monthly"}
        raise AssertionError(kind)

    def _malformed(self) -> Record:
        rng = self._rng
        kind = rng.choice(MALFORMED_KINDS)
        at = self._clock.isoformat()
        base = {"event_id": f"bad-{rng.getrandbits(40):010x}", "occurred_at": at,
                "email": "someone@example.com"}
        if kind == "invalid_json":
            value = b'{"event_id": "x", "type": "web_visit", "occurred_at": '
        elif kind == "missing_identity":
            value = json.dumps({**base, "email": None, "type": "web_visit",
                                "payload": {"url": "/"}}).encode()
        elif kind == "unknown_type":
            value = json.dumps({**base, "type": "carrier_pigeon", "payload": {}}).encode()
        elif kind == "invalid_field":
            value = json.dumps({**base, "occurred_at": "2026-11-01T10:00:00",  # no zone
                                "type": "download", "payload": {"asset_id": 7}}).encode()
        elif kind == "oversize":
            value = json.dumps({**base, "type": "chat",
                                "payload": {"summary": "x" * self._max_bytes}}).encode()
        else:
            value = b'["a", "list", "is", "not", "a", "touchpoint"]'
        return Record(b"malformed", value, kind)
