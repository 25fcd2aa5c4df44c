"""Realistic, reproducible Companies House events for the simulator.

Event `timepoint` is a pure function of (seed, timepoint): the same timepoint always yields the same
line, as a replay from the real API does. Companies come from a fixed pool so one company receives
several events over a run; names, numbers, addresses, SIC codes and accounts dates look like the
register's (`SC571653`, `15893094`, `NORTHGATE DIGITAL LTD`).
"""

from __future__ import annotations

import functools
import json
import random
from datetime import date, datetime, timedelta

FIRST = ("NORTHGATE", "OAKRIDGE", "BRIGHTWATER", "KESTREL", "ALDER", "HARBOUR", "SILVERLINE", "REDBRICK",
         "THISTLE", "PENNINE", "CALEDONIAN", "MERIDIAN", "WILLOW", "ASHFORD", "GRANITE", "BLUEBELL", "FALCON",
         "CROWN", "HIGHLAND", "RIVERSIDE", "STERLING", "ORCHARD", "LANTERN", "BEACON", "COPPER", "IVY", "SUMMIT")
SECOND = ("DIGITAL", "PROPERTY", "CONSULTING", "HOLDINGS", "LOGISTICS", "CONSTRUCTION", "TRADING", "MEDIA",
          "ENGINEERING", "CATERING", "CARE", "VENTURES", "ESTATES", "SOLUTIONS", "ENERGY", "FOODS", "TECHNOLOGY",
          "DESIGN", "RETAIL", "SERVICES", "INVESTMENTS", "HEALTHCARE", "MOTORS", "LEISURE", "TRANSPORT")
STREETS = ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "King Street",
           "Queen's Road", "Market Place", "George Street", "Park Avenue", "Bridge Street", "London Road")
TOWNS = {
    "england-wales": (("London", "EC1V", "England"), ("Manchester", "M1", "England"), ("Leeds", "LS1", "England"),
                      ("Bristol", "BS1", "England"), ("Cardiff", "CF10", "Wales"), ("Birmingham", "B3", "England"),
                      ("Norwich", "NR1", "England"), ("Swansea", "SA1", "Wales")),
    "scotland": (("Edinburgh", "EH2", "Scotland"), ("Glasgow", "G2", "Scotland"), ("Aberdeen", "AB10", "Scotland")),
    "northern-ireland": (("Belfast", "BT1", "Northern Ireland"), ("Derry", "BT48", "Northern Ireland")),
}
PREFIX = {"england-wales": "", "scotland": "SC", "northern-ireland": "NI"}
SIC = ("62012", "62020", "70229", "68209", "68100", "47910", "41100", "43999", "56101", "82990", "96090",
       "64209", "46900", "49410", "86900", "74909", "71129", "85590", "93130", "10710")
TYPES = (("ltd", 0.86, "LIMITED"), ("ltd", 0.0, "LTD"), ("llp", 0.05, "LLP"), ("plc", 0.01, "PLC"),
         ("private-limited-guarant-nsc", 0.08, "LIMITED"))
STATUSES = ("active",) * 17 + ("dissolved", "liquidation", "administration", "voluntary-arrangement")
ACCOUNTS = ("micro-entity", "total-exemption-full", "small", "full", "dormant", "unaudited-abridged")


@functools.lru_cache(maxsize=100_000)
def _company(seed: int, index: int) -> dict:
    """Return the stable part of pool company `index`: number, name, type, jurisdiction, address, SIC."""
    rng = random.Random(seed * 7_919 + index)
    jurisdiction = rng.choices(("england-wales", "scotland", "northern-ireland"), (0.88, 0.09, 0.03))[0]
    kind, _, suffix = rng.choices(TYPES, [w for _, w, _ in TYPES])[0]
    if suffix == "LIMITED" and rng.random() < 0.3:
        suffix = "LTD"
    number = (f"{PREFIX[jurisdiction]}{rng.randrange(100000, 999999):06d}" if PREFIX[jurisdiction]
              else f"{rng.choice((0, 1))}{rng.randrange(1000000, 9999999):07d}")
    if kind == "llp":
        number = f"OC{rng.randrange(300000, 450000)}"
    town, district, country = rng.choice(TOWNS[jurisdiction])
    created = date(1995, 1, 1) + timedelta(days=rng.randrange(0, 30 * 365 - 400))
    return {
        "company_number": number,
        "company_name": f"{rng.choice(FIRST)} {rng.choice(SECOND)} {suffix}",
        "type": kind,
        "jurisdiction": jurisdiction,
        "date_of_creation": created.isoformat(),
        "registered_office_address": {
            "address_line_1": f"{rng.randrange(1, 240)} {rng.choice(STREETS)}",
            "locality": town,
            "postal_code": f"{district} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                           f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
            "country": country,
        },
        "sic_codes": sorted(rng.sample(SIC, rng.choice((1, 1, 1, 2, 3)))),
        "created": created,
    }


def _accounts(rng: random.Random, created: date, published: datetime) -> dict:
    month = rng.choice((3, 12, 6, 9))
    year = max(created.year + 1, published.year - 1)
    made_up = date(year, month, 28 if month == 2 else 30 if month in (6, 9) else 31)
    return {
        "accounting_reference_date": {"day": str(made_up.day), "month": f"{month:02d}"},
        "last_accounts": {"made_up_to": made_up.isoformat(), "type": rng.choice(ACCOUNTS),
                          "period_end_on": made_up.isoformat()},
        "next_made_up_to": made_up.replace(year=year + 1).isoformat(),
        "next_due": (made_up.replace(year=year + 1) + timedelta(days=273)).isoformat(),
        "overdue": rng.random() < 0.04,
    }


def event(seed: int, timepoint: int, pool: int, published: datetime, delete_rate: float,
          resource_kind: str = "company-profile") -> dict:
    """Return the event published at `timepoint` (reproducible: same arguments, same event)."""
    rng = random.Random(seed * 1_000_003 + timepoint)
    base = _company(seed, rng.randrange(pool))
    number = base["company_number"]
    meta = {"timepoint": timepoint, "published_at": published.strftime("%Y-%m-%dT%H:%M:%S"), "type": "changed"}
    doc = {"resource_kind": resource_kind, "resource_uri": f"/company/{number}", "resource_id": number}
    if rng.random() < delete_rate:
        meta["type"] = "deleted"
        return {**doc, "event": meta}
    status = rng.choice(STATUSES)
    data = {key: value for key, value in base.items() if key != "created"}
    data.update(company_status=status, etag=f"{rng.getrandbits(160):040x}",
                accounts=_accounts(rng, base["created"], published),
                links={"self": f"/company/{number}", "filing_history": f"/company/{number}/filing-history"},
                has_charges=rng.random() < 0.2, can_file=status == "active")
    if status == "dissolved":
        data["date_of_cessation"] = (published.date() - timedelta(days=rng.randrange(1, 90))).isoformat()
    if resource_kind != "company-profile":
        data = {"company_number": number, "etag": data["etag"], "kind": resource_kind}
    if rng.random() < 0.4:
        meta["fields_changed"] = rng.sample(["company_status", "accounts.next_due", "registered_office_address",
                                             "sic_codes", "company_name"], 2)
    return {**doc, "data": data, "event": meta}


def event_line(seed: int, timepoint: int, pool: int, published: datetime, delete_rate: float,
               resource_kind: str = "company-profile") -> bytes:
    """Return event `timepoint` as one newline-terminated JSON line."""
    return json.dumps(event(seed, timepoint, pool, published, delete_rate, resource_kind),
                      separators=(",", ":")).encode() + b"\n"
