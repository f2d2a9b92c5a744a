"""The Logs Platform's records: event types, export files and rendering.

The records are kept as compact columns (see :mod:`.compliance_data`); the
classes here turn one row of those columns into the JSON record a download
serves. Anything that needs no column (ids, texts, file names, IP addresses)
is derived from a hash of the seed and the record's identity, so the same
seed renders the same bytes on every run.

Record shapes. ``CONVERSATION_MESSAGE`` follows the published example record:
the envelope ``event_id``, ``type``, ``principal``, ``actor``, ``timestamp``
plus ``message`` and ``conversation``. OpenAI publishes no schema for
``AUTH_LOG`` and ``AUDIT_LOG`` records; the sandbox gives them the same
envelope plus ``event_type``, ``workspace_id`` and ``event_details`` (as the
published ``CODEX_LOG`` example has), and the keys inside ``event_details``
are **our assumption**:

* ``AUTH_LOG``: ``event_type`` ``LOGIN_SUCCEEDED`` or ``LOGIN_FAILED``;
  details ``detail_type``, ``auth_method`` (``sso`` or ``password``),
  ``ip_address``, ``user_agent``, ``client_type`` and, on failure,
  ``failure_reason``.
* ``AUDIT_LOG``: ``event_type`` one of :data:`AUDIT_EVENT_TYPES`; details
  ``detail_type`` plus the keys of that action (target user and roles,
  setting and values, connector, GPT and visibilities, invitee).
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final

import attrs

from aiaudit_chatgpt.sandbox.compliance_content import (
    _CONNECTORS,
    _FAILURE_REASONS,
    _FOLLOW_UPS,
    _SETTINGS,
    _TOPICS,
    _USER_AGENTS,
    _VISIBILITIES,
    _WORKSPACE_ROLES,
    _Topic,
)
from aiaudit_chatgpt.sandbox.org import MODELS, stable_token


if TYPE_CHECKING:
    from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
    from aiaudit_chatgpt.sandbox.org import User


__all__ = [
    "AUDIT_EVENT_TYPES",
    "AUDIT_LOG",
    "AUTH_LOG",
    "CONVERSATION_MESSAGE",
    "GENERATED_EVENT_TYPES",
    "KNOWN_EVENT_TYPES",
    "LogFile",
]

CONVERSATION_MESSAGE: Final = "CONVERSATION_MESSAGE"
AUTH_LOG: Final = "AUTH_LOG"
AUDIT_LOG: Final = "AUDIT_LOG"
GENERATED_EVENT_TYPES: Final = (CONVERSATION_MESSAGE, AUTH_LOG, AUDIT_LOG)
KNOWN_EVENT_TYPES: Final = frozenset(
    {
        *GENERATED_EVENT_TYPES,
        "APP_LOG",
        "APP_AUTH_LOG",
        "CODEX_LOG",
        "CODEX_SECURITY_LOG",
        "CHATGPT_PLUGIN_SPREADSHEET",
        "CUSTOM_AGENTS_LOG",
        "MEMORY_CONTEXT",
    }
)
"""Event types the listing accepts; the official enum is not published.

Types outside :data:`GENERATED_EVENT_TYPES` are valid and simply have no
files; anything else is rejected with 422, as a validating API would.
"""

AUDIT_EVENT_TYPES: Final = (
    "USER_ROLE_CHANGED",
    "WORKSPACE_SETTING_UPDATED",
    "CONNECTOR_ENABLED",
    "GPT_SHARING_CHANGED",
    "MEMBER_INVITED",
)

_US: Final = 1_000_000
_HOUR_US: Final = 3_600 * _US
_DAY_US: Final = 24 * _HOUR_US
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = _EPOCH.replace(tzinfo=None)

_MODEL_CUMULATIVE: Final = tuple(accumulate((4, 2, 2, 1, 2)))  # in MODELS order
_FILE_PERMILLE: Final = 100
_CITATION_ONE_IN: Final = 5
_PINNED_PERCENT: Final = 3
_TEMPORARY_PERCENT: Final = 4
_AUTH_FLAG_FAILED: Final = 1
_AUTH_FLAG_PASSWORD: Final = 2
_CLIENT_TYPES: Final = ("web", "web", "web", "desktop_app", "ios", "android")

# Hash domains, so one seed gives unrelated streams for each kind of id.
_K_CONV: Final = 1
_K_MSG: Final = 2
_K_AUTH: Final = 3
_K_AUDIT: Final = 4
_K_FILE: Final = 5
_K_USER: Final = 6
_K_PROJECT: Final = 7
_K_GPT: Final = 8
_K_KNOWLEDGE: Final = 9
_K_SHARE: Final = 10
_K_ANNOTATION: Final = 11
_K_EVENT: Final = 12


def _mix(*parts: int) -> int:
    """A 64-bit hash of integers, stable across runs.

    Python's ``hash`` is salted per process; records must render identically
    in every run, so render-time choices hash with this instead (BLAKE2 runs
    in C: a download renders every record of a file).
    """
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _hex(*parts: int) -> str:
    """32 hex digits (128 bits) derived from *parts*."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _uuid(*parts: int) -> str:
    """A version-4-shaped UUID derived from *parts*, as ChatGPT ids look."""
    h = _hex(*parts)
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def _model(conversation_hash: int) -> str:
    """The model of a conversation: popular ones more often."""
    h = (conversation_hash >> 24) % _MODEL_CUMULATIVE[-1]
    return MODELS[bisect_right(_MODEL_CUMULATIVE, h)]


def _ip_address(h: int) -> str:
    """An address in the documentation ranges (RFC 5737): never a real host."""
    prefix = ("192.0.2", "198.51.100", "203.0.113")[h % 3]
    return f"{prefix}.{1 + (h >> 8) % 254}"


def _to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _iso_us(us: int) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``, as the records carry."""
    moment = _NAIVE_EPOCH + timedelta(microseconds=us)
    return f"{moment.isoformat(timespec='microseconds')}Z"


@attrs.frozen(kw_only=True)
class LogFile:
    """One export file of the Logs Platform.

    Attributes:
        id: The log id, stable for a seed: ``log_<kind>_<bucket>_<token>``.
        event_type: The event type of every record in the file.
        start_time: The start of the bucket the file covers.
        end_time: The end of that bucket; the listing sorts and pages by it.
        records: How many records the file holds (never zero).
    """

    id: str
    event_type: str
    start_time: datetime
    end_time: datetime
    records: int

    @property
    def end_time_iso(self) -> str:
        return self.end_time.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def file_name(self) -> str:
        return f"{self.id}.jsonl"

    def listing_item(self) -> dict[str, Any]:
        """The entry ``GET .../logs`` returns for this file."""
        return {
            "id": self.id,
            "event_type": self.event_type,
            "end_time": self.end_time_iso,
            "file_name": self.file_name,
        }


class _Source:
    """One event type's records: sorted timestamps, columns and file buckets.

    A file is a contiguous range of the sorted records, so a bucket needs
    only its end time and its first record's offset; pages of the listing
    bisect ``ends`` instead of scanning.
    """

    event_type: str
    label: str
    width_us: int

    def __init__(self, data: ComplianceData, ts: array[int]) -> None:
        self.data = data
        self.ts = ts
        self.ends: array[int] = array("q")
        self.offsets: array[int] = array("q")
        self.ids: list[str] = []

    def build_buckets(self, start_us: int, end_us: int) -> None:
        stamp = "%Y%m%d%H" if self.width_us == _HOUR_US else "%Y%m%d"
        bucket = start_us - start_us % self.width_us
        while bucket < end_us:
            lo = bisect_left(self.ts, bucket)
            hi = bisect_left(self.ts, bucket + self.width_us)
            if hi > lo:
                token = stable_token(self.data.seed, self.event_type, bucket)
                label = _from_us(bucket).strftime(stamp)
                self.ids.append(f"log_{self.label}_{label}_{token}")
                self.ends.append(bucket + self.width_us)
                self.offsets.append(lo)
            bucket += self.width_us
        self.offsets.append(len(self.ts))

    def file(self, bucket: int) -> LogFile:
        end = self.ends[bucket]
        return LogFile(
            id=self.ids[bucket],
            event_type=self.event_type,
            start_time=_from_us(end - self.width_us),
            end_time=_from_us(end),
            records=self.offsets[bucket + 1] - self.offsets[bucket],
        )

    def bucket_range(self, bucket: int) -> range:
        return range(self.offsets[bucket], self.offsets[bucket + 1])

    def envelope(self, index: int, kind: int, user: User) -> dict[str, Any]:
        return {
            "event_id": f"evt_{_hex(self.data.seed, _K_EVENT, kind, index)[:24]}",
            "type": self.event_type,
            "principal": {"id": self.data.workspace_id, "type": "CHATGPT_WORKSPACE"},
            "actor": {
                "type": "ACCOUNT_USER",
                "user_id": user.id,
                "user_email": user.email,
            },
            "timestamp": _iso_us(self.ts[index]),
        }

    def render(self, index: int) -> dict[str, Any]:
        raise NotImplementedError


class _Messages(_Source):
    """CONVERSATION_MESSAGE: per message a timestamp, conversation, position.

    Position even is the user's turn and odd the assistant's answer, so the
    role, the parent id and the text follow from ``(conversation, position)``.
    """

    event_type = CONVERSATION_MESSAGE
    label = "conv"
    width_us = _HOUR_US

    def __init__(
        self,
        data: ComplianceData,
        ts: array[int],
        conversation: array[int],
        position: array[int],
    ) -> None:
        super().__init__(data, ts)
        self.conversation = conversation
        self.position = position

    def message_id(self, conversation: int, position: int) -> str:
        return _uuid(self.data.seed, _K_MSG, conversation, position)

    def render(self, index: int) -> dict[str, Any]:
        data = self.data
        seed = data.seed
        c, pos, us = self.conversation[index], self.position[index], self.ts[index]
        conv = data.conversations
        user = data.org.users[conv.user[c]]
        ch = _mix(seed, _K_CONV, c)
        mh = _mix(seed, _K_MSG, c, pos)
        topic = _TOPICS[ch % len(_TOPICS)]
        turn, answer = divmod(pos, 2)
        message_id = self.message_id(c, pos)
        author: dict[str, Any] = {
            "type": "assistant" if answer else "user",
            "role": "assistant" if answer else "user",
            "client_type": _CLIENT_TYPES[(ch >> 8) % len(_CLIENT_TYPES)],
        }
        files: list[dict[str, Any]] = []
        annotations: list[dict[str, Any]] = []
        if answer:
            author["model"] = _model(ch)
            value = topic.replies[(turn + mh) % len(topic.replies)]
            if (mh >> 20) % _CITATION_ONE_IN == 0:
                annotations.append(
                    {
                        "id": f"ann_{_hex(seed, _K_ANNOTATION, c, pos)[:12]}",
                        "parent_message_id": message_id,
                        "type": "citation",
                        "quote_text": value.split(",")[0][:60],
                    }
                )
        else:
            value = (
                topic.prompts[turn]
                if turn < len(topic.prompts)
                else _FOLLOW_UPS[mh % len(_FOLLOW_UPS)]
            )
            seeded = data.seeded_uploads.get(c) if pos == 0 else None
            if seeded is not None:
                files = [
                    self._file(c, pos, k, mh=mh, topic=topic, us=us, name=name)
                    for k, name in enumerate(seeded)
                ]
            elif mh % 1000 < _FILE_PERMILLE:
                count = min(1 + (mh >> 10) % 3, len(topic.files))
                files = [
                    self._file(c, pos, k, mh=mh, topic=topic, us=us)
                    for k in range(count)
                ]
        record = self.envelope(index, _K_MSG, user)
        record["message"] = {
            "id": message_id,
            "parent_id": self.message_id(c, pos - 1) if pos else None,
            "created_at": record["timestamp"],
            "author": author,
            "content": {"type": "text", "value": value},
            "files": files,
            "annotations": annotations,
        }
        record["conversation"] = conv.render(c, ch, topic)
        return record

    def _file(
        self,
        c: int,
        pos: int,
        k: int,
        *,
        mh: int,
        topic: _Topic,
        us: int,
        name: str | None = None,
    ) -> dict[str, Any]:
        file_id = f"file-{_hex(self.data.seed, _K_FILE, c, pos, k)[:24]}"
        return {
            "id": file_id,
            "object": "compliance.workspace.conversation.message.file",
            "name": name or topic.files[((mh >> 16) + k) % len(topic.files)],
            # Uploaded a little before the message that carries it was sent.
            "created_at": round((us - (5 + 7 * k) * _US) / _US, 6),
            # Files are not served; the reserved .invalid domain never resolves.
            "download_url": f"https://files.chatgpt.invalid/{file_id}/download",
        }


class _Conversations:
    """Per-conversation columns: who, when, and which GPT or project."""

    def __init__(self, data: ComplianceData) -> None:
        self.data = data
        self.user: array[int] = array("i")
        self.start: array[int] = array("q")
        self.gpt: array[int] = array("h")
        self.project: array[int] = array("h")

    def __len__(self) -> int:
        return len(self.user)

    def render(self, c: int, ch: int, topic: _Topic) -> dict[str, Any]:
        """The ``conversation`` object; *ch* is the conversation's hash."""
        data = self.data
        gpt, project = self.gpt[c], self.project[c]
        temporary = gpt < 0 and project < 0 and (ch >> 32) % 100 < _TEMPORARY_PERCENT
        record: dict[str, Any] = {
            "id": _uuid(data.seed, _K_CONV, c),
            "title": topic.title,
            "created_at": _iso_us(self.start[c]),
            "is_pinned": (ch >> 40) % 100 < _PINNED_PERCENT,
            "is_temporary_chat": temporary,
        }
        if gpt >= 0:
            record["gpt_id"] = data.org.gpts[gpt].id
            record["gpt_name"] = data.org.gpts[gpt].name
        if project >= 0:
            record["project_id"] = data.project_ids[project]
            record["project_name"] = data.projects[project].name
        return record


class _SignIns(_Source):
    """AUTH_LOG: per sign-in a timestamp, the user and outcome/method flags."""

    event_type = AUTH_LOG
    label = "auth"
    width_us = _HOUR_US

    def __init__(
        self, data: ComplianceData, ts: array[int], user: array[int], flags: array[int]
    ) -> None:
        super().__init__(data, ts)
        self.user = user
        self.flags = flags

    def render(self, index: int) -> dict[str, Any]:
        data = self.data
        u, flags = self.user[index], self.flags[index]
        h = _mix(data.seed, _K_AUTH, index)
        uh = _mix(data.seed, _K_USER, u)
        failed = bool(flags & _AUTH_FLAG_FAILED)
        event_type = "LOGIN_FAILED" if failed else "LOGIN_SUCCEEDED"
        # Each person signs in from two usual places (home, office) on one of
        # two devices; a failure now and then comes from somewhere else.
        place = h % 2
        if failed and h % 3 == 0:
            place = 2 + (h >> 4) % 50
        agent = _USER_AGENTS[(uh + (h >> 8) % 2) % len(_USER_AGENTS)]
        details: dict[str, Any] = {
            "detail_type": event_type,
            "auth_method": "password" if flags & _AUTH_FLAG_PASSWORD else "sso",
            "ip_address": _ip_address(_mix(data.seed, _K_USER, u, place)),
            "user_agent": agent,
            "client_type": "mobile" if "iOS" in agent or "Android" in agent else "web",
        }
        if failed:
            details["failure_reason"] = _FAILURE_REASONS[(h >> 16) % 3]
        record = self.envelope(index, _K_AUTH, data.org.users[u])
        record["event_type"] = event_type
        record["workspace_id"] = data.workspace_id
        record["event_details"] = details
        return record


class _AdminActions(_Source):
    """AUDIT_LOG: per admin action a timestamp, the admin, the kind, a target.

    The target is a user index or a GPT index, as the kind needs.
    """

    event_type = AUDIT_LOG
    label = "audit"
    width_us = _DAY_US

    def __init__(
        self,
        data: ComplianceData,
        ts: array[int],
        actor: array[int],
        kind: array[int],
        target: array[int],
    ) -> None:
        super().__init__(data, ts)
        self.actor = actor
        self.kind = kind
        self.target = target

    def render(self, index: int) -> dict[str, Any]:
        data = self.data
        org = data.org
        event_type = AUDIT_EVENT_TYPES[self.kind[index]]
        target = self.target[index]
        h = _mix(data.seed, _K_AUDIT, index)
        details: dict[str, Any] = {"detail_type": event_type}
        if event_type == "USER_ROLE_CHANGED":
            old = (h % 2) + 1
            details |= {
                "target_user_id": org.users[target].id,
                "target_user_email": org.users[target].email,
                "old_role": _WORKSPACE_ROLES[old],
                "new_role": _WORKSPACE_ROLES[3 - old],
            }
        elif event_type == "WORKSPACE_SETTING_UPDATED":
            name, before, after = _SETTINGS[h % len(_SETTINGS)]
            details |= {"setting": name, "old_value": before, "new_value": after}
        elif event_type == "CONNECTOR_ENABLED":
            details |= {"connector": _CONNECTORS[h % len(_CONNECTORS)]}
        elif event_type == "GPT_SHARING_CHANGED":
            gpt = org.gpts[target % len(org.gpts)]
            old = h % len(_VISIBILITIES)
            details |= {
                "gpt_id": gpt.id,
                "gpt_name": gpt.name,
                "old_visibility": _VISIBILITIES[old],
                "new_visibility": _VISIBILITIES[(old + 1) % len(_VISIBILITIES)],
            }
        else:
            local = stable_token(data.seed, "invitee", index, length=8)
            details |= {
                "invitee_email": f"new.hire.{local}@{org.domain}",
                "role": "standard-user",
            }
        record = self.envelope(index, _K_AUDIT, org.users[self.actor[index]])
        record["event_type"] = event_type
        record["workspace_id"] = data.workspace_id
        record["event_details"] = details
        return record
