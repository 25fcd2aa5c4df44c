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


def _profile(rng: random.Random, base: dict, number: str, published: datetime) -> dict:
    status = rng.choice(STATUSES)
    data = {key: value for key, value in base.items() if key != "created"}
    data.update(company_status=status, etag=_etag(rng), accounts=_accounts(rng, base["created"], published),
                links={"self": f"/company/{number}", "filing_history": f"/company/{number}/filing-history"},
                has_charges=rng.random() < 0.2, can_file=status == "active")
    if status == "dissolved":
        data["date_of_cessation"] = (published.date() - timedelta(days=rng.randrange(1, 90))).isoformat()
    return data


def _etag(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _key(seed: int, *parts) -> str:
    """Return a stable 27-character id in the register's style (base64url of a hash)."""
    digest = random.Random(f"{seed}:{':'.join(map(str, parts))}").getrandbits(162)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[(digest >> (6 * i)) & 63] for i in range(27))


FORENAMES = ("James", "Jane", "Ana", "Mohammed", "Olivia", "Rhys", "Fiona", "Priya", "Tomasz", "Grace", "Owen")
SURNAMES = ("SMITH", "JONES", "PATEL", "WILLIAMS", "MACDONALD", "O'NEILL", "EVANS", "KHAN", "NOWAK", "HUGHES")
FILINGS = (("accounts", "AA", "accounts-with-accounts-type-micro-entity"),
           ("confirmation-statement", "CS01", "confirmation-statement-with-no-updates"),
           ("officers", "AP01", "appointment-director-company-with-name-date"),
           ("officers", "TM01", "termination-director-company-with-name-termination-date"),
           ("address", "AD01", "change-registered-office-address-company-with-date-old-address-new-address"),
           ("mortgage", "MR01", "mortgage-create-with-deed-with-charge-number-charge-creation-date"),
           ("persons-with-significant-control", "PSC01", "notification-of-a-person-with-significant-control"))
# PSC stream: resource kind, URI segment, data kind.
PSC_SHAPES = (("company-psc-individual", "individual", "individual-person-with-significant-control"),
              ("company-psc-corporate", "corporate-entity", "corporate-entity-person-with-significant-control"),
              ("company-psc-legal", "legal-person", "legal-person-person-with-significant-control"),
              ("company-psc-supersecure", "super-secure", "super-secure-person-with-significant-control"),
              ("company-psc-individual-beneficial-owner", "individual-beneficial-owner", "individual-beneficial-owner"),
              ("company-psc-corporate-beneficial-owner", "corporate-entity-beneficial-owner",
               "corporate-entity-beneficial-owner"),
              ("company-psc-legal-beneficial-owner", "legal-person-beneficial-owner", "legal-person-beneficial-owner"),
              ("company-psc-supersecure-beneficial-owner", "super-secure-beneficial-owner",
               "super-secure-beneficial-owner"))
PSC_WEIGHTS = (70, 18, 3, 1, 4, 2, 1, 1)
NATURES = ("ownership-of-shares-25-to-50-percent", "ownership-of-shares-75-to-100-percent",
           "voting-rights-25-to-50-percent", "right-to-appoint-and-remove-directors")


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FORENAMES), rng.choice(SURNAMES)


def _address(base: dict) -> dict:
    return dict(base["registered_office_address"])


def _day(rng: random.Random, published: datetime, span: int = 30) -> str:
    return (published.date() - timedelta(days=rng.randrange(0, span))).isoformat()


def _filing(seed, rng, base, number, published):
    tx = _key(seed, "filing", number, rng.randrange(4))
    category, kind, description = rng.choice(FILINGS)
    uri = f"/company/{number}/filing-history/{tx}"
    return "filing-history", uri, tx, {
        "transaction_id": tx, "category": category, "type": kind, "description": description,
        "date": _day(rng, published), "barcode": f"X{rng.getrandbits(28):07X}", "pages": rng.randrange(1, 30),
        "description_values": {"made_up_date": _day(rng, published, 400)} if category == "accounts" else {},
        "links": {"self": uri}}


def _officer(seed, rng, base, number, published):
    appointment = _key(seed, "appointment", number, rng.randrange(3))
    forename, surname = _person(random.Random(appointment))
    uri = f"/company/{number}/appointments/{appointment}"
    data = {"name": f"{surname}, {forename}", "officer_role": rng.choice(("director", "director", "secretary")),
            "appointed_on": base["created"].isoformat(), "address": _address(base), "nationality": "British",
            "occupation": "Director", "country_of_residence": base["registered_office_address"]["country"],
            "date_of_birth": {"month": rng.randrange(1, 13), "year": rng.randrange(1950, 2000)},
            "links": {"self": uri, "officer": {"appointments": f"/officers/{_key(seed, 'officer', appointment)}"
                                                              "/appointments"}}}
    if rng.random() < 0.2:
        data["resigned_on"] = _day(rng, published)
    return "company-officers", uri, appointment, data


def _psc(seed, rng, base, number, published):
    kind, segment, data_kind = rng.choices(PSC_SHAPES, PSC_WEIGHTS)[0]
    psc_id = _key(seed, "psc", number, segment, rng.randrange(2))
    uri = f"/company/{number}/persons-with-significant-control/{segment}/{psc_id}"
    data = {"kind": data_kind, "etag": _etag(rng), "links": {"self": uri}}
    if "super-secure" in segment:
        data.update(description=data_kind if "beneficial" in data_kind
                    else "super-secure-persons-with-significant-control", ceased=False)
        return kind, uri, psc_id, data
    data.update(address=_address(base), notified_on=base["created"].isoformat(),
                natures_of_control=sorted(rng.sample(NATURES, 2)))
    if segment.startswith("individual"):
        forename, surname = _person(random.Random(psc_id))
        data.update(name=f"{forename} {surname.title()}", name_elements={"forename": forename, "surname": surname},
                    nationality="British", date_of_birth={"month": rng.randrange(1, 13), "year": 1970})
    else:
        data.update(name=f"{rng.choice(FIRST)} HOLDINGS LIMITED",
                    identification={"legal_authority": "Companies Act 2006", "legal_form": "Private Limited Company"})
    if "beneficial" in segment:
        data["is_sanctioned"] = False
    if rng.random() < 0.1:
        data["ceased_on"] = _day(rng, published)
    return kind, uri, psc_id, data


def _statement(seed, rng, base, number, published):
    statement_id = _key(seed, "statement", number)
    uri = f"/company/{number}/persons-with-significant-control-statements/{statement_id}"
    data = {"kind": "persons-with-significant-control-statement", "etag": _etag(rng),
            "statement": rng.choice(("no-individual-or-entity-with-signficant-control",
                                     "psc-details-not-confirmed", "steps-to-find-psc-not-yet-completed")),
            "notified_on": base["created"].isoformat(), "links": {"self": uri}}
    if rng.random() < 0.3:
        data["ceased_on"] = _day(rng, published)
    return "company-psc-statement", uri, statement_id, data


def _charge(seed, rng, base, number, published):
    charge_number = rng.randrange(1, 4)
    charge_id = _key(seed, "charge", number, charge_number)
    uri = f"/company/{number}/charges/{charge_id}"
    satisfied = rng.random() < 0.3
    data = {"id": charge_id, "etag": _etag(rng), "charge_number": charge_number,
            "charge_code": f"{number}000{charge_number}", "status": "fully-satisfied" if satisfied else "outstanding",
            "classification": {"type": "charge-description", "description": "A registered charge"},
            "created_on": base["created"].isoformat(), "delivered_on": base["created"].isoformat(),
            "persons_entitled": [{"name": rng.choice(("Barclays Bank PLC", "Lloyds Bank PLC", "HSBC UK Bank PLC"))}],
            "links": {"self": uri}}
    if satisfied:
        data["satisfied_on"] = _day(rng, published)
    return "company-charges", uri, charge_id, data


def _insolvency(seed, rng, base, number, published):
    return "company-insolvency", f"/company/{number}/insolvency", number, {
        "etag": _etag(rng), "status": rng.choice(("liquidation", "administration", "voluntary-arrangement")),
        "cases": [{"type": "creditors-voluntary-liquidation", "number": "1",
                   "dates": [{"type": "wound-up-on", "date": _day(rng, published)}],
                   "practitioners": [{"name": "Jane Liquidator", "role": "practitioner",
                                      "appointed_on": _day(rng, published), "address": _address(base)}]}]}


def _exemptions(seed, rng, base, number, published):
    uri = f"/company/{number}/exemptions"
    return "company-exemptions", uri, number, {
        "kind": "exemptions", "etag": _etag(rng), "links": {"self": uri},
        "exemptions": {"psc_exempt_as_trading_on_regulated_market": {
            "exemption_type": "psc-exempt-as-trading-on-regulated-market",
            "items": [{"exempt_from": base["created"].isoformat()}]}}}


def _disqualified(seed, rng, base, number, published):
    corporate = rng.random() < 0.2
    officer_id = _key(seed, "disqualified", number, corporate)
    kind = "corporate" if corporate else "natural"
    uri = f"/disqualified-officers/{kind}/{officer_id}"
    disqualification = {"case_identifier": f"INV{rng.randrange(1_000_000, 9_999_999)}",
                        "company_names": [base["company_name"]], "address": _address(base),
                        "disqualification_type": rng.choice(("order", "undertaking")),
                        "disqualified_from": _day(rng, published),
                        "disqualified_until": (published.date() + timedelta(days=5 * 365)).isoformat(),
                        "reason": {"act": "company-directors-disqualification-act-1986", "section": "7"}}
    data = {"etag": _etag(rng), "links": {"self": uri}, "disqualifications": [disqualification]}
    if corporate:
        data.update(kind="corporate-disqualification", name=base["company_name"], company_number=number)
    else:
        forename, surname = _person(random.Random(officer_id))
        data.update(kind="natural-disqualification", forename=forename, surname=surname,
                    date_of_birth="1968-06-04", nationality="British")
    return f"disqualified-officer-{kind}", uri, officer_id, data


# Stream type → builder of (resource_kind, resource_uri, resource_id, data) for one event about a company.
BUILDERS = {
    "filing-history": _filing, "company-officers": _officer, "company-psc-individual": _psc,
    "company-charges": _charge, "company-insolvency": _insolvency, "disqualified-officer-natural": _disqualified,
    "company-exemptions": _exemptions, "company-psc-statement": _statement,
}


def event(seed: int, timepoint: int, pool: int, published: datetime, delete_rate: float,
          stream_type: str = "company-profile") -> dict:
    """Return the event of stream `stream_type` published at `timepoint` (same arguments, same event)."""
    rng = random.Random(seed * 1_000_003 + timepoint)
    base = _company(seed, rng.randrange(pool))
    number = base["company_number"]
    meta = {"timepoint": timepoint, "published_at": published.strftime("%Y-%m-%dT%H:%M:%S"), "type": "changed"}
    if stream_type == "company-profile":
        kind, uri, resource_id, data = "company-profile", f"/company/{number}", number, None
    else:
        kind, uri, resource_id, data = BUILDERS[stream_type](seed, rng, base, number, published)
    doc = {"resource_kind": kind, "resource_uri": uri, "resource_id": resource_id}
    if rng.random() < delete_rate:
        meta["type"] = "deleted"
        return {**doc, "event": meta}
    if stream_type == "company-profile":
        data = _profile(rng, base, number, published)
    if rng.random() < 0.4:
        meta["fields_changed"] = sorted(rng.sample(sorted(data), min(2, len(data))))
    return {**doc, "data": data, "event": meta}


def event_line(seed: int, timepoint: int, pool: int, published: datetime, delete_rate: float,
               stream_type: str = "company-profile") -> bytes:
    """Return event `timepoint` as one newline-terminated JSON line."""
    return json.dumps(event(seed, timepoint, pool, published, delete_rate, stream_type),
                      separators=(",", ":")).encode() + b"\n"
