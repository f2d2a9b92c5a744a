"""The ``poisoned`` profile: records no store takes as they are.

A hostile or broken server sends what no database accepts: a lone
surrogate (JSON's ``\\ud800`` escape, valid syntax but no valid Unicode),
a NUL (PostgreSQL refuses it in text), a user id of thousands of characters
(past what an index key holds). One such record must cost that record, not
the sync. The profile spoils a few records of each listing the connector
reads (the admin audit log, the Logs Platform's sign-in files, the custom
GPTs), in place: their ids stay, so everything else the sandbox serves is
exactly what it serves without the profile.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson


__all__ = [
    "GPT_POISONS",
    "LONE_SURROGATE",
    "LONG_USER_ID_LENGTH",
    "POISONS",
    "dumps",
    "poison_admin",
    "poison_gpt",
    "poison_sign_in",
    "spread",
]

LONE_SURROGATE: Final = "\ud800"
LONG_USER_ID_LENGTH: Final = 6_000

POISONS: Final = ("surrogate", "nul_user_id", "nul_email", "nul_ip", "long_user_id")
"""The spoils, one record each: a lone surrogate in a string field, a NUL
in the user id, the email or the IP address, a 6,000-character user id."""

GPT_POISONS: Final = ("surrogate", "nul_user_id", "nul_email", "long_user_id")
"""A GPT has no IP address: the other four."""


def _nul(value: str) -> str:
    middle = len(value) // 2
    return f"{value[:middle]}\x00{value[middle:]}"


def _long(value: str) -> str:
    return (value + "0" * LONG_USER_ID_LENGTH)[:LONG_USER_ID_LENGTH]


def poison_admin(record: dict[str, Any], poison: str) -> None:
    """Spoil an audit event whose actor is a session, in place."""
    session = record["actor"]["session"]
    user = session["user"]
    if poison == "surrogate":
        session["user_agent"] = f"{session['user_agent']} {LONE_SURROGATE}"
    elif poison == "nul_user_id":
        user["id"] = _nul(user["id"])
    elif poison == "nul_email":
        user["email"] = _nul(user["email"])
    elif poison == "nul_ip":
        session["ip_address"] = f"{session['ip_address']}\x00"
    else:
        user["id"] = _long(user["id"])


def poison_sign_in(record: dict[str, Any], poison: str) -> None:
    """Spoil a Logs Platform sign-in record, in place."""
    actor, details = record["actor"], record["event_details"]
    if poison == "surrogate":
        details["user_agent"] = f"{details['user_agent']} {LONE_SURROGATE}"
    elif poison == "nul_user_id":
        actor["user_id"] = _nul(actor["user_id"])
    elif poison == "nul_email":
        actor["user_email"] = _nul(actor["user_email"])
    elif poison == "nul_ip":
        details["ip_address"] = f"{details['ip_address']}\x00"
    else:
        actor["user_id"] = _long(actor["user_id"])


def poison_gpt(gpt: dict[str, Any], poison: str) -> None:
    """Spoil a custom GPT object, in place."""
    if poison == "surrogate":
        gpt["latest_config"]["data"][0]["name"] += f" {LONE_SURROGATE}"
    elif poison == "nul_user_id":
        gpt["owner_id"] = _nul(gpt["owner_id"])
    elif poison == "nul_email":
        gpt["owner_email"] = _nul(gpt["owner_email"])
    else:
        gpt["owner_id"] = _long(gpt["owner_id"])


def spread(candidates: list[int], count: int) -> list[int]:
    """*count* of *candidates*, evenly spread (fewer if there are fewer)."""
    if len(candidates) <= count:
        return list(candidates)
    step = len(candidates) / (count + 1)
    return [candidates[int(step * (n + 1))] for n in range(count)]


def dumps(data: Any, *, newline: bool = False) -> bytes:
    """JSON as the API serves it; a lone surrogate as its ``\\ud800`` escape.

    orjson refuses to encode a lone surrogate (it has no UTF-8 form); the
    standard library writes it as the escape, which is what a poisoned
    server sends.
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE if newline else 0)
    except orjson.JSONEncodeError:
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
        return (text + "\n" if newline else text).encode("ascii")
