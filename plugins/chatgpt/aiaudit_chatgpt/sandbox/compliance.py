"""The ChatGPT Enterprise Compliance API of the sandbox.

Two generations of the API are served, because connectors in the wild use
both:

* the **Logs Platform**: ``GET .../logs`` lists export files per event type,
  paged by ``after=<last_end_time>``; ``GET .../logs/{id}`` answers 307 to a
  signed URL on a separate object-storage origin that serves the JSONL body;
* the **legacy listings** of the v1.1.1 spec (``/users``, ``/gpts``,
  ``/projects``), paged by ``after=<last_id>``.

The data is generated once per organization and kept as compact columns
(timestamps in ``array('q')``, small integer columns), because a benchmark
asks for hundreds of thousands of messages and one dict per record would cost
gigabytes. Every JSON record is rendered from its index when it is served, and
anything that needs no column (ids, texts, file names, IP addresses) is derived
from a hash of the seed and the record's identity, so the same seed renders the
same bytes on every run.

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

Listing semantics follow what the documented consumers rely on: files are
sorted by ``(end_time, id)``, ``after`` keeps files whose ``end_time`` is at
or after it, so the file at the boundary comes back on the next page and
clients dedupe by id. The API does not say so, and the fault profile
``listing_after_exclusive`` serves the other reading (only files ending
strictly after ``after``), which loses every file of the boundary end time
that did not fit the page for a client that trusts ``after=last_end_time``:
the hourly types and the daily one end together at every midnight, and two
hourly files end together every hour, so such ties straddle page
boundaries. A consequence the real design shares: a page must hold
every file of its last end time plus one more for ``after=last_end_time`` to
move on. The three generated types end at most three files at one instant
(an hour file of each hourly type and a day file), so a ``limit`` of 4 or
more always makes progress.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
import random
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

import attrs
from aiohttp import web

from aiaudit_chatgpt.sandbox._web import (
    STALL_DOWNLOAD,
    STORAGE_PREFIX,
    TRUNCATE_DOWNLOAD,
    ApiError,
    Publication,
    SandboxKeys,
    json_response,
    parse_iso_time,
    require_key,
)
from aiaudit_chatgpt.sandbox.faults import MAX_STALL_SECONDS, FaultInjector
from aiaudit_chatgpt.sandbox.faults import stall as wait_for_hangup
from aiaudit_chatgpt.sandbox.org import MODELS, stable_token
from aiaudit_chatgpt.sandbox.poison import dumps, poison_gpt, poison_sign_in


if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable, Iterator, Mapping, Sequence

    from multidict import MultiMapping

    from aiaudit_chatgpt.sandbox.org import CustomGPT, Organization, Project, User


__all__ = [
    "AUDIT_EVENT_TYPES",
    "AUDIT_LOG",
    "AUTH_LOG",
    "CONVERSATION_MESSAGE",
    "GENERATED_EVENT_TYPES",
    "KNOWN_EVENT_TYPES",
    "ComplianceData",
    "LogFile",
    "UrlSigner",
    "compliance_routes",
    "storage_routes",
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

LOGS_LIMIT_DEFAULT: Final = 100
LOGS_LIMIT_MAX: Final = 100
WORKSPACE_PATH: Final = "/v1/compliance/workspaces/{workspace_id}"
OVERSIZED_LINE_BYTES: Final = 5 * 1024 * 1024
"""The default length of the ``oversized`` profile's line."""
_PLACEHOLDER: Final = "@@aiaudit-oversized@@"
_STREAM_CHUNK: Final = 64 * 1024

_US: Final = 1_000_000
_HOUR_US: Final = 3_600 * _US
_DAY_US: Final = 24 * _HOUR_US
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = _EPOCH.replace(tzinfo=None)

# Activity by UTC hour of day and by weekday (Monday first): a company that
# works office hours, with a lunch dip and quiet weekends.
_HOUR_WEIGHTS: Final = (
    0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.20, 0.45, 0.80, 1.00, 1.00, 0.95,
    0.70, 0.90, 1.00, 1.00, 0.90, 0.70, 0.45, 0.30, 0.22, 0.15, 0.10, 0.06,
)  # fmt: skip
_DAY_WEIGHTS: Final = (1.00, 1.05, 1.05, 1.00, 0.85, 0.14, 0.10)
_TURN_WEIGHTS: Final = (30, 22, 16, 11, 8, 6, 4, 3)
_MODEL_CUMULATIVE: Final = tuple(accumulate((4, 2, 2, 1, 2)))  # in MODELS order
_GPT_SHARE: Final = 0.12
_PROJECT_SHARE: Final = 0.10
_FILE_PERMILLE: Final = 100
_CITATION_ONE_IN: Final = 5
_PINNED_PERCENT: Final = 3
_TEMPORARY_PERCENT: Final = 4
_INACTIVE_PERCENT: Final = 4
_AUTH_FAILURE_SHARE: Final = 0.06
_AUTH_PASSWORD_SHARE: Final = 0.15
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


@attrs.frozen
class _Topic:
    title: str
    prompts: tuple[str, ...]
    replies: tuple[str, ...]
    files: tuple[str, ...]


_TOPICS: Final = (
    _Topic(
        "Q3 forecast review",
        (
            "Can you check the assumptions in this Q3 forecast?",
            "Which regions drive most of the variance?",
            "Draft three bullet points for the CFO.",
        ),
        (
            "The forecast assumes 4% growth in EMEA, above the 2.7% trend.",
            "Most variance comes from APAC hardware and a late LATAM renewal.",
            "Here are three bullet points on the key risks and upsides.",
        ),
        ("q3-forecast.xlsx", "regional-breakdown.csv", "fy-plan.pdf"),
    ),
    _Topic(
        "Contract clause comparison",
        (
            "Compare the liability clauses in these two contracts.",
            "Is the indemnity cap market standard?",
            "Suggest a redline for section 9.",
        ),
        (
            "Contract A caps liability at 12 months of fees; B has no cap.",
            "A 12-month cap is common; uncapped breach liability is not.",
            "Proposed redline: limit section 9.2 to direct damages only.",
        ),
        ("msa-vendor-a.pdf", "msa-vendor-b.docx", "dpa-template.docx"),
    ),
    _Topic(
        "SQL query optimisation",
        (
            "Why is this query slow on the orders table?",
            "Rewrite it with a window function.",
            "Which index would help most?",
        ),
        (
            "The correlated subquery makes it scan orders twice.",
            "Here is the query using ROW_NUMBER() over customer_id.",
            "An index on (customer_id, created_at) avoids the sort.",
        ),
        ("slow-query.sql", "explain-plan.txt", "schema.sql"),
    ),
    _Topic(
        "Launch blog post",
        (
            "Write a launch blog post for our new analytics feature.",
            "Make the tone more playful.",
            "Add a short FAQ at the end.",
        ),
        (
            "Introducing Insights: see how your team works, at a glance.",
            "Here is a lighter version with a few jokes about spreadsheets.",
            "FAQ: Who can see Insights? Admins and anyone they invite.",
        ),
        ("product-brief.pdf", "screenshots.zip", "brand-guidelines.pdf"),
    ),
    _Topic(
        "Incident summary",
        (
            "Summarise this incident timeline for the postmortem.",
            "What were the contributing factors?",
            "List follow-up actions with owners.",
        ),
        (
            "At 09:14 UTC the database failed over; writes stopped for 11 min.",
            "A missing replica-lag alert and a manual runbook step.",
            "Add a replica-lag alert (Platform); automate failover (SRE).",
        ),
        ("incident-timeline.md", "pagerduty-export.csv", "grafana-panel.png"),
    ),
    _Topic(
        "Customer email reply",
        (
            "Help me reply to this customer complaint politely.",
            "Offer a 20% discount on the next renewal.",
            "Make it shorter.",
        ),
        (
            "Dear Ms. Rossi, thank you for telling us about the delay.",
            "We would like to offer you 20% off your next renewal.",
            "Thanks for your patience; here is 20% off your renewal.",
        ),
        ("ticket-48213.pdf", "customer-history.csv"),
    ),
    _Topic(
        "Python data cleaning",
        (
            "Clean up this CSV: dates are in three different formats.",
            "Now group revenue by month.",
            "Plot it as a bar chart.",
        ),
        (
            "I parsed the dates with pandas.to_datetime, dayfirst where needed.",
            "Monthly revenue peaks in March and is lowest in August.",
            "Here is the bar chart of monthly revenue.",
        ),
        ("sales-export.csv", "cleanup.py", "revenue-2024.xlsx"),
    ),
    _Topic(
        "Job description draft",
        (
            "Draft a job description for a senior data engineer.",
            "Add our benefits section.",
            "Make it more inclusive.",
        ),
        (
            "Senior Data Engineer: you will design and run our data platform.",
            "Benefits: flexible hours, 30 days of leave, learning budget.",
            "I replaced gendered wording and shortened the must-have list.",
        ),
        ("team-structure.pdf", "benefits-2025.pdf"),
    ),
    _Topic(
        "Security questionnaire",
        (
            "Answer these vendor security questions from our policies.",
            "Do we encrypt backups at rest?",
            "Summarise our access review process.",
        ),
        (
            "Most answers come straight from the information security policy.",
            "Yes: backups are encrypted at rest with AES-256, keys in KMS.",
            "Each system owner reviews access quarterly.",
        ),
        ("security-questionnaire.xlsx", "infosec-policy.pdf", "soc2-report.pdf"),
    ),
    _Topic(
        "Meeting notes to actions",
        (
            "Turn these meeting notes into action items.",
            "Who owns the pricing decision?",
            "Write the follow-up email.",
        ),
        (
            "Actions: finalise pricing, update the roadmap, book the offsite.",
            "Dana owns the pricing decision, due next Friday.",
            "Hi all, thanks for today. Here are the actions we agreed.",
        ),
        ("meeting-notes.docx", "roadmap-q4.pptx"),
    ),
    _Topic(
        "Grant proposal",
        (
            "Help me structure a grant proposal on climate data.",
            "Tighten the impact section.",
            "Check it against the funder's criteria.",
        ),
        (
            "A clear structure: problem, approach, impact, budget, team.",
            "The impact section now leads with the measurable outcomes.",
            "Two criteria are weakly addressed: dissemination and ethics.",
        ),
        ("call-for-proposals.pdf", "budget-draft.xlsx"),
    ),
    _Topic(
        "Code review",
        (
            "Review this pull request diff for bugs.",
            "Is the retry loop safe?",
            "Suggest tests for the edge cases.",
        ),
        (
            "Looks fine apart from an off-by-one in the pagination loop.",
            "The retry loop never caps its backoff; add a maximum delay.",
            "Test an empty page, a 429 with Retry-After, and a timeout.",
        ),
        ("pr-1287.diff", "retry.py", "test_client.py"),
    ),
)
_FOLLOW_UPS: Final = (
    "Thanks, can you make it shorter?",
    "Can you put that in a table?",
    "Explain the second point in more detail.",
    "Translate it into German.",
    "What would you change first?",
    "Great, now give me a one-line summary.",
)
_USER_AGENTS: Final = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "ChatGPT/1.2025.140 (iOS 17.5; iPhone15,2; build 1234)",
    "ChatGPT/1.2025.140 (Android 14; Pixel 8; build 1234)",
    "ChatGPTDesktop/1.2025.140 (macOS 14.5)",
)
_FAILURE_REASONS: Final = ("invalid_password", "mfa_failed", "sso_assertion_invalid")
_SETTINGS: Final = (
    ("chat_history_retention_days", "90", "30"),
    ("allow_temporary_chats", "true", "false"),
    ("memory_enabled", "false", "true"),
    ("file_uploads_enabled", "true", "false"),
    ("gpt_store_access", "enabled", "workspace_only"),
)
_CONNECTORS: Final = ("Google Drive", "SharePoint", "GitHub", "Slack", "Box")
_VISIBILITIES: Final = ("invite-only", "workspace-with-link", "workspace")
_WORKSPACE_ROLES: Final = ("account-owner", "account-admin", "standard-user")
_GPT_TOOLS: Final = {
    "browser": "browser",
    "python": "code_interpreter",
    "dalle": "dall-e",
}
_GPT_VISIBILITY: Final = {
    "private": "invite-only",
    "workspace": "workspace",
    "workspace-with-link": "workspace-with-link",
}


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


def _activity_slots(
    start_us: int, end_us: int
) -> tuple[list[int], list[int], list[float]]:
    """Hour slots of [start, end) with cumulative activity weights.

    Sampling a slot by these weights and a uniform instant inside it gives the
    daily and weekly rhythm at the cost of one bisect per sample.
    """
    starts: list[int] = []
    lengths: list[int] = []
    cumulative: list[float] = []
    total = 0.0
    hour = start_us - start_us % _HOUR_US
    while hour < end_us:
        lo, hi = max(hour, start_us), min(hour + _HOUR_US, end_us)
        moment = _from_us(hour)
        total += (
            _DAY_WEIGHTS[moment.weekday()]
            * _HOUR_WEIGHTS[moment.hour]
            * (hi - lo)
            / _HOUR_US
        )
        starts.append(lo)
        lengths.append(hi - lo)
        cumulative.append(total)
        hour += _HOUR_US
    return starts, lengths, cumulative


def _message_offsets(rand: Callable[[], float], turns: int) -> list[int]:
    """When each message of a conversation is sent, from its first one."""
    offsets: list[int] = []
    elapsed = 0
    for turn in range(turns):
        if turn:
            # Reading the answer and typing the next prompt: mostly quick,
            # sometimes minutes.
            r = rand()
            elapsed += int(_US * (15 + 330 * r * r))
        offsets.append(elapsed)
        # The assistant answers within seconds.
        elapsed += int(_US * (2 + 20 * rand()))
        offsets.append(elapsed)
    return offsets


def _sort_columns(
    ts: array[int], *columns: array[int]
) -> tuple[array[int], tuple[array[int], ...]]:
    """Reorder columns by timestamp; ties keep generation order (stable sort)."""
    order = sorted(range(len(ts)), key=ts.__getitem__)
    return (
        array(ts.typecode, map(ts.__getitem__, order)),
        tuple(array(c.typecode, map(c.__getitem__, order)) for c in columns),
    )


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
            if mh % 1000 < _FILE_PERMILLE:
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
        self, c: int, pos: int, k: int, *, mh: int, topic: _Topic, us: int
    ) -> dict[str, Any]:
        file_id = f"file-{_hex(self.data.seed, _K_FILE, c, pos, k)[:24]}"
        return {
            "id": file_id,
            "object": "compliance.workspace.conversation.message.file",
            "name": topic.files[((mh >> 16) + k) % len(topic.files)],
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


@attrs.frozen(kw_only=True)
class UrlSigner:
    """Signs and checks the download URLs of the storage origin.

    The download answer is a 307 to another origin, as object storage
    presigned URLs are; the signature in the query is the only credential
    there, which is what makes a client that forwards its bearer token fail.

    Attributes:
        secret: The HMAC key.
        ttl: Seconds a URL stays valid (the Compliance API documents 1 hour
            for file URLs).
        clock: The time source, replaceable so a test can expire a URL.
    """

    secret: bytes = attrs.field(repr=False)
    ttl: int = 3_600
    clock: Callable[[], float] = time.time

    def signature(self, log_id: str, expires: int) -> str:
        message = f"{log_id}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def url(self, base: str, log_id: str, *, expires: int | None = None) -> str:
        """The signed URL of *log_id* on the storage origin at *base*."""
        if expires is None:
            expires = int(self.clock()) + self.ttl
        return (
            f"{base.rstrip('/')}{STORAGE_PREFIX}/{quote(log_id, safe='')}.jsonl"
            f"?X-Signature={self.signature(log_id, expires)}&X-Expires={expires}"
        )

    def check(
        self, log_id: str, signature: str | None, expires: str | None
    ) -> Literal["ok", "missing", "bad", "expired"]:
        if not signature or not expires:
            return "missing"
        try:
            deadline = int(expires)
        except ValueError:
            return "bad"
        expected = self.signature(log_id, deadline).encode()
        # Bytes: compare_digest refuses non-ASCII str, and a query can hold any.
        if not hmac.compare_digest(signature.encode(), expected):
            return "bad"
        if deadline < self.clock():
            return "expired"
        return "ok"


class ComplianceData:
    """The generated Compliance API data of one organization.

    Build it with :meth:`generate` (the constructor takes the same
    arguments). The ``iter_*`` methods are the ground truth a test compares a
    client's downloads against; the routes serve the same objects.
    """

    def __init__(
        self, org: Organization, *, messages: int, url_ttl: int = 3_600
    ) -> None:
        if messages < 0:
            raise ValueError("messages must not be negative")
        self.org = org
        self.seed = org.seed
        self.workspace_id = org.workspace_id
        secret = hashlib.blake2b(
            repr((org.seed, "compliance-storage")).encode(), digest_size=32
        ).digest()
        self.signer = UrlSigner(secret=secret, ttl=url_ttl)
        # The org's first project is the API Platform's "Default project",
        # which has no ChatGPT counterpart.
        self.projects: tuple[Project, ...] = org.projects[1:]
        self.project_ids = tuple(self.project_id(p) for p in self.projects)
        self.conversations = _Conversations(self)
        self._sources: dict[str, _Source] = {}
        self._file_sizes: dict[str, int] = {}
        self._by_id: dict[str, tuple[_Source, int]] = {}
        self._users_by_id = sorted(org.users, key=lambda u: u.id)
        self._user_ids = [u.id for u in self._users_by_id]
        self._gpts_by_id = sorted(org.gpts, key=lambda g: g.id)
        self._gpt_ids = [g.id for g in self._gpts_by_id]
        self._projects_by_id = sorted(self.projects, key=self.project_id)
        self._project_ids = [self.project_id(p) for p in self._projects_by_id]
        self.after_exclusive = False
        """Serve ``after`` exclusively (``listing_after_exclusive``)."""
        self.publication = Publication(0.0)
        self.hidden_files: frozenset[str] = frozenset()
        """Files the listing holds back until :attr:`publication` says."""
        self.hidden_gpts: frozenset[str] = frozenset()
        """GPTs the listing holds back until :attr:`publication` says."""
        self.poisoned_lines: dict[str, dict[int, str]] = {}
        """File id to the lines (from 0) served spoiled, with the spoil."""
        self.poisoned_gpts: dict[str, str] = {}
        self.oversized: tuple[str, int] | None = None
        """The file id and line (from 0) served as one huge line (``oversized``)."""
        self.oversized_bytes = OVERSIZED_LINE_BYTES
        """How long that line is, in bytes (without its newline)."""
        """GPT id to the spoil it is served with (``poisoned``)."""
        admins = max(1, len(org.users) // 40)
        self._admins = tuple(
            u.index for u in org.users if u.role == "owner" or u.index < 2 + admins
        )
        rng = random.Random(f"compliance:{org.seed}")  # noqa: S311 - test data
        start_us, end_us = _to_us(org.start), _to_us(org.end)
        slots = _activity_slots(start_us, end_us)
        sources: list[_Source] = [
            self._generate_messages(rng, slots, messages),
            self._generate_sign_ins(rng, slots, messages // 8),
            self._generate_admin_actions(rng, slots, messages // 40),
        ]
        for source in sources:
            source.build_buckets(start_us, end_us)
            self._sources[source.event_type] = source
            for bucket, file_id in enumerate(source.ids):
                self._by_id[file_id] = (source, bucket)

    @classmethod
    def generate(
        cls, org: Organization, *, messages: int, url_ttl: int = 3_600
    ) -> ComplianceData:
        """Generate *messages* conversation messages, sign-ins and actions.

        The message count is exact when even (a turn is a prompt and its
        answer); sign-ins are ``messages // 8`` and admin actions
        ``messages // 40``. *url_ttl* is how long a download URL stays valid.
        """
        return cls(org, messages=messages, url_ttl=url_ttl)

    def _generate_messages(
        self,
        rng: random.Random,
        slots: tuple[list[int], list[int], list[float]],
        messages: int,
    ) -> _Messages:
        starts, lengths, cumulative = slots
        start_us, end_us = starts[0], starts[-1] + lengths[-1]
        remaining = messages // 2
        turns: list[int] = []
        while remaining > 0:
            for drawn in rng.choices(
                range(1, len(_TURN_WEIGHTS) + 1),
                weights=_TURN_WEIGHTS,
                k=max(16, remaining // 2),
            ):
                taken = min(drawn, remaining)
                turns.append(taken)
                remaining -= taken
                if not remaining:
                    break
        count = len(turns)
        users = rng.choices(range(len(self.org.users)), self.org.user_weights, k=count)
        chosen_slots = rng.choices(range(len(starts)), cum_weights=cumulative, k=count)
        gpts, projects = self.org.gpts, self.projects
        conv = self.conversations
        ts, conversation, position = array("q"), array("i"), array("b")
        rand = rng.random
        for c in range(count):
            slot = chosen_slots[c]
            begin = starts[slot] + int(rand() * lengths[slot])
            offsets = _message_offsets(rand, turns[c])
            # A conversation that would run past the end starts earlier instead,
            # so the message count is exact.
            begin = max(start_us, min(begin, end_us - 1 - offsets[-1]))
            gpt = project = -1
            if gpts and rand() < _GPT_SHARE:
                gpt = rng.randrange(len(gpts))
                if gpts[gpt].created_at * _US > begin:
                    gpt = -1
            elif projects and rand() < _PROJECT_SHARE:
                project = rng.randrange(len(projects))
            conv.user.append(users[c])
            conv.start.append(begin)
            conv.gpt.append(gpt)
            conv.project.append(project)
            for pos, offset in enumerate(offsets):
                ts.append(min(begin + offset, end_us - 1))
                conversation.append(c)
                position.append(pos)
        ts, (conversation, position) = _sort_columns(ts, conversation, position)
        return _Messages(self, ts, conversation, position)

    def _generate_sign_ins(
        self,
        rng: random.Random,
        slots: tuple[list[int], list[int], list[float]],
        count: int,
    ) -> _SignIns:
        starts, lengths, cumulative = slots
        # Signing in is less skewed than chatting: everyone does it.
        weights = [math.sqrt(w) for w in self.org.user_weights]
        users = array("i", rng.choices(range(len(self.org.users)), weights, k=count))
        chosen = rng.choices(range(len(starts)), cum_weights=cumulative, k=count)
        rand = rng.random
        ts = array("q", (starts[s] + int(rand() * lengths[s]) for s in chosen))
        flags = array(
            "b",
            (
                (_AUTH_FLAG_FAILED if rand() < _AUTH_FAILURE_SHARE else 0)
                | (_AUTH_FLAG_PASSWORD if rand() < _AUTH_PASSWORD_SHARE else 0)
                for _ in range(count)
            ),
        )
        ts, (users, flags) = _sort_columns(ts, users, flags)
        return _SignIns(self, ts, users, flags)

    def _generate_admin_actions(
        self,
        rng: random.Random,
        slots: tuple[list[int], list[int], list[float]],
        count: int,
    ) -> _AdminActions:
        starts, lengths, cumulative = slots
        chosen = rng.choices(range(len(starts)), cum_weights=cumulative, k=count)
        rand = rng.random
        ts = array("q", (starts[s] + int(rand() * lengths[s]) for s in chosen))
        actors = array("i", (rng.choice(self._admins) for _ in range(count)))
        kinds = array(
            "b", (rng.randrange(len(AUDIT_EVENT_TYPES)) for _ in range(count))
        )
        targets = array("i", (rng.randrange(len(self.org.users)) for _ in range(count)))
        ts, (actors, kinds, targets) = _sort_columns(ts, actors, kinds, targets)
        return _AdminActions(self, ts, actors, kinds, targets)

    # -- ground truth -------------------------------------------------------

    @property
    def records_count(self) -> dict[str, int]:
        """How many records each generated event type has."""
        return {name: len(source.ts) for name, source in self._sources.items()}

    def project_id(self, project: Project) -> str:
        """The ChatGPT id (``g-p-...``) of an organization project."""
        token = stable_token(self.seed, "chatgpt-project", project.index, length=32)
        return f"g-p-{token}"

    def log_file(self, file_id: str) -> LogFile | None:
        found = self._by_id.get(file_id)
        return None if found is None else found[0].file(found[1])

    def list_log_files(
        self,
        event_types: Iterable[str],
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = LOGS_LIMIT_DEFAULT,
        exclusive: bool = False,
        hide: frozenset[str] = frozenset(),
    ) -> tuple[list[LogFile], bool]:
        """One page of the listing and whether more files follow it.

        Files with ``after <= end_time < before`` (``after < end_time``
        when *exclusive*), in ``(end_time, id)`` order, less those in *hide*.
        """
        after_us = None if after is None else _to_us(after)
        before_us = None if before is None else _to_us(before)
        first = bisect_right if exclusive else bisect_left

        def files(source: _Source) -> Iterator[tuple[int, str, _Source, int]]:
            ends = source.ends
            lo = 0 if after_us is None else first(ends, after_us)
            hi = len(ends) if before_us is None else bisect_left(ends, before_us)
            for bucket in range(lo, hi):
                if hide and source.ids[bucket] in hide:
                    continue
                yield ends[bucket], source.ids[bucket], source, bucket

        sources = [
            self._sources[t] for t in dict.fromkeys(event_types) if t in self._sources
        ]
        merged = heapq.merge(*map(files, sources), key=lambda f: (f[0], f[1]))
        page = list(islice(merged, limit + 1))
        return [s.file(b) for _, _, s, b in page[:limit]], len(page) > limit

    def iter_log_files(
        self, event_types: Iterable[str] | None = None
    ) -> Iterator[LogFile]:
        """Every file of *event_types* (all by default) in listing order."""
        types = GENERATED_EVENT_TYPES if event_types is None else event_types
        files, _ = self.list_log_files(types, limit=len(self._by_id))
        yield from files

    def iter_file_records(self, file_id: str) -> Iterator[dict[str, Any]]:
        """The records of one file, in timestamp order; KeyError if unknown."""
        source, bucket = self._by_id[file_id]
        render = source.render
        spoiled = self.poisoned_lines.get(file_id)
        for position, index in enumerate(source.bucket_range(bucket)):
            record = render(index)
            if spoiled is not None and position in spoiled:
                poison_sign_in(record, spoiled[position])
            if self.oversized == (file_id, position):
                head, tail = self._oversized_parts(record)
                record["message"]["content"]["value"] = "x" * self._filler(head, tail)
            yield record

    def choose_oversized(self) -> str:
        """Pick the line the ``oversized`` profile serves huge: the middle
        line of the first conversation file with three; its file id."""
        for log_file in self.iter_log_files([CONVERSATION_MESSAGE]):
            if log_file.records >= 3:  # noqa: PLR2004 - a line on either side
                self.oversized = (log_file.id, 1)
                return log_file.id
        raise ValueError("no conversation file holds three messages")

    def _oversized_parts(self, record: dict[str, Any]) -> tuple[bytes, bytes]:
        """The JSON text of *record* before and after its message text."""
        record["message"]["content"]["value"] = _PLACEHOLDER
        head, _, tail = dumps(record).partition(_PLACEHOLDER.encode())
        return head, tail

    def _filler(self, head: bytes, tail: bytes) -> int:
        return max(0, self.oversized_bytes - len(head) - len(tail))

    def sign_in_files(self) -> list[str]:
        """The ids of the sign-in (``AUTH_LOG``) files holding records, in
        listing order: where the ``poisoned`` profile spoils lines."""
        return [f.id for f in self.iter_log_files([AUTH_LOG]) if f.records]

    def file_size(self, file_id: str) -> int:
        """The byte length of a file's JSONL body, computed once per file."""
        size = self._file_sizes.get(file_id)
        if size is None:
            size = sum(len(piece) for piece in self.iter_file_chunks(file_id))
            self._file_sizes[file_id] = size
        return size

    def iter_file_lines(self, file_id: str) -> Iterator[bytes]:
        """The JSONL lines of one file, as the storage origin serves them."""
        for record in self.iter_file_records(file_id):
            yield dumps(record, newline=True)

    def iter_file_chunks(self, file_id: str) -> Iterator[bytes]:
        """The body of one file in pieces, as the storage origin sends it.

        Lines, except the ``oversized`` profile's huge one, which comes in
        pieces of 64 KiB and is never held whole: a test of a client's
        memory measures the client, not this server in the same process.
        """
        if self.oversized is None or self.oversized[0] != file_id:
            yield from self.iter_file_lines(file_id)
            return
        source, bucket = self._by_id[file_id]
        for position, index in enumerate(source.bucket_range(bucket)):
            record = source.render(index)
            if position != self.oversized[1]:
                yield dumps(record, newline=True)
                continue
            head, tail = self._oversized_parts(record)
            yield head
            left = self._filler(head, tail)
            while left > 0:
                piece = min(left, _STREAM_CHUNK)
                yield b"x" * piece
                left -= piece
            yield tail + b"\n"

    # -- legacy objects -----------------------------------------------------

    def workspace_role(self, user: User) -> str:
        if user.role == "owner":
            return "account-owner"
        return "account-admin" if user.index in self._admins else "standard-user"

    def workspace_user(self, user: User) -> dict[str, Any]:
        inactive = (
            self.workspace_role(user) == "standard-user"
            and _mix(self.seed, _K_USER, user.index) % 100 < _INACTIVE_PERCENT
        )
        return {
            "object": "compliance.workspace.user",
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "created_at": float(user.added_at),
            "role": self.workspace_role(user),
            "status": "inactive" if inactive else "active",
        }

    def gpt(self, gpt: CustomGPT) -> dict[str, Any]:
        owner = self.org.users[gpt.owner]
        tools = [
            {"type": _GPT_TOOLS[tool], "created_at": float(gpt.created_at)}
            for tool in gpt.tools
        ]
        files = self._knowledge_files("gpt", _K_GPT, gpt.index, gpt.updated_at)
        config = {
            "object": "compliance.workspace.gpt.configuration",
            "id": f"gzm_cnf_{_hex(self.seed, _K_GPT, gpt.index)[:24]}",
            "name": gpt.name,
            "description": gpt.description,
            "categories": [],
            "conversation_starters": [f"What can the {gpt.name} do?"],
            "created_at": float(gpt.updated_at),
            "instructions": gpt.instructions,
            "version_author": {
                "object": "compliance.workspace.gpt.version_author",
                "id": owner.id,
                "email": owner.email,
            },
            "files": _generic_list(files),
            "tools": _generic_list(tools),
        }
        served = {
            "object": "compliance.workspace.gpt",
            "id": gpt.id,
            "created_at": float(gpt.created_at),
            "owner_id": owner.id,
            "owner_email": owner.email,
            "builder_name": owner.name,
            "sharing": self._sharing(
                "gpt", _K_GPT, _GPT_VISIBILITY[gpt.sharing], gpt.index
            ),
            "latest_config": _generic_list([config]),
        }
        poison = self.poisoned_gpts.get(gpt.id)
        if poison is not None:
            poison_gpt(served, poison)
        return served

    def project(self, project: Project) -> dict[str, Any]:
        owner = self.org.users[project.owner]
        files = self._knowledge_files(
            "project", _K_PROJECT, project.index, project.created_at
        )
        visibility = _VISIBILITIES[_mix(self.seed, _K_PROJECT, project.index) % 3]
        config = {
            "object": "compliance.workspace.project.configuration",
            "id": f"pr_cnf_{_hex(self.seed, _K_PROJECT, project.index)[:24]}",
            "name": project.name,
            "description": f"Shared workspace of the {project.name} team.",
            "categories": [],
            "conversation_starters": [],
            "created_at": float(project.created_at),
            "instructions": f"Answer for the {project.name} team. Cite sources.",
            "files": _generic_list(files),
            "tools": _generic_list([]),
        }
        return {
            "object": "compliance.workspace.project",
            "id": self.project_id(project),
            "created_at": float(project.created_at),
            "owner_id": owner.id,
            "owner_email": owner.email,
            "builder_name": owner.name,
            "sharing": self._sharing("project", _K_PROJECT, visibility, project.index),
            "latest_config": _generic_list([config]),
        }

    def _knowledge_files(
        self, kind: str, domain: int, index: int, created: int
    ) -> list[dict[str, Any]]:
        h = _mix(self.seed, _K_KNOWLEDGE, domain, index)
        topic = _TOPICS[h % len(_TOPICS)]
        return [
            {
                "object": f"compliance.workspace.{kind}.file",
                "id": f"file-{_hex(self.seed, _K_KNOWLEDGE, domain, index, k)[:24]}",
                "name": topic.files[k % len(topic.files)],
                "created_at": float(created),
                "download_url": f"https://files.chatgpt.invalid/{kind}/{index}/{k}",
            }
            for k in range((h >> 8) % 3)
        ]

    def _sharing(
        self, kind: str, domain: int, visibility: str, index: int
    ) -> dict[str, Any]:
        def permissions(*, write: bool) -> dict[str, Any]:
            return {
                "object": f"compliance.workspace.{kind}.permissions",
                "can_read": True,
                "can_view_config": write,
                "can_write": write,
            }

        recipients = []
        if visibility == "invite-only":
            users = self.org.users
            h = _mix(self.seed, _K_SHARE, domain, index)
            for k in range(h % 3):
                user = users[_mix(self.seed, _K_SHARE, domain, index, k) % len(users)]
                recipients.append(
                    {
                        "object": f"compliance.workspace.{kind}.shared_user",
                        "id": user.id,
                        "email": user.email,
                        "permissions": permissions(write=k == 0),
                    }
                )
        return {
            "object": f"compliance.workspace.{kind}.sharing",
            "visibility": visibility,
            "permissions": permissions(write=False),
            "recipients": recipients,
        }

    def users_page(
        self, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of ``/users`` in ascending id order, as the spec says."""
        lo, hi, more = _window(self._user_ids, after, limit)
        return [self.workspace_user(u) for u in self._users_by_id[lo:hi]], more

    def listed_files(self) -> frozenset[str]:
        """The files the listing holds back right now."""
        return frozenset() if self.publication.published() else self.hidden_files

    def add_gpts(self, gpts: Iterable[CustomGPT]) -> None:
        """Serve *gpts* too (the ``poisoned`` profile's), after generation,
        so the rest of the data is what the same seed gives without them."""
        self._gpts_by_id = sorted([*self._gpts_by_id, *gpts], key=lambda g: g.id)
        self._gpt_ids = [g.id for g in self._gpts_by_id]

    def gpts_page(
        self, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        gpts, ids = self._gpts_by_id, self._gpt_ids
        if self.hidden_gpts and not self.publication.published():
            gpts = [g for g in gpts if g.id not in self.hidden_gpts]
            ids = [g.id for g in gpts]
        lo, hi, more = _window(ids, after, limit)
        return [self.gpt(g) for g in gpts[lo:hi]], more

    def projects_page(
        self, after: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        lo, hi, more = _window(self._project_ids, after, limit)
        return [self.project(p) for p in self._projects_by_id[lo:hi]], more


def _generic_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A nested ``GenericList`` (complete, as the spec says nested ones are).

    ``last_id`` is left out when there is no last id to name (an empty list,
    or tools, which have no ids): the spec types it as a string.
    """
    body: dict[str, Any] = {"object": "list", "data": items, "has_more": False}
    if items and "id" in items[-1]:
        body["last_id"] = items[-1]["id"]
    return body


def _window(ids: Sequence[str], after: str | None, limit: int) -> tuple[int, int, bool]:
    # ``after`` need not name an existing object: paging resumes at its place.
    lo = bisect_right(ids, after) if after else 0
    hi = min(lo + limit, len(ids))
    return lo, hi, hi < len(ids)


def _limit(
    query: Mapping[str, str], *, default: int, maximum: int, strict: bool
) -> int:
    """The ``limit`` parameter: 422 when invalid, clamped unless *strict*.

    The Logs Platform rejects ``limit > 100`` with 422; the legacy listings
    document that they may return fewer than asked, so they clamp instead.
    """
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, f"Invalid 'limit': {raw!r} is not an integer.", param="limit"
        ) from None
    if value < 1 or (strict and value > maximum):
        raise ApiError(
            422,
            f"Invalid 'limit': {value}. Expected a value between 1 and {maximum}.",
            param="limit",
            code="integer_out_of_range",
        )
    return min(value, maximum)


def _list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    # An empty page names no last id; null keeps the key for clients that
    # read it unconditionally (the spec does not say).
    return {
        "object": "list",
        "data": data,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _check_workspace(
    request: web.Request, data: ComplianceData, allowed: frozenset[str]
) -> None:
    """The key is the Compliance API's and the workspace is ours, or an error."""
    require_key(request, allowed=allowed)
    if request.match_info["workspace_id"] != data.workspace_id:
        raise ApiError(
            404,
            f"Workspace '{request.match_info['workspace_id']}' not found.",
            param="workspace_id",
            code="not_found",
        )


def _event_types(query: MultiMapping[str]) -> list[str]:
    """The listing's ``event_type`` values (repeated or comma-joined), or 422."""
    event_types = [
        part.strip()
        for value in query.getall("event_type", [])
        for part in value.split(",")
        if part.strip()
    ]
    if not event_types:
        raise ApiError(
            422, "Missing required parameter: 'event_type'.", param="event_type"
        )
    unknown = sorted(set(event_types) - KNOWN_EVENT_TYPES)
    if unknown:
        raise ApiError(
            422,
            f"Invalid 'event_type': {', '.join(unknown)}.",
            param="event_type",
        )
    return event_types


def _logs_listing(
    request: web.Request, data: ComplianceData, faults: FaultInjector | None
) -> dict[str, Any]:
    """One page of ``GET .../logs``, as the faults (if any) shape it."""
    query = request.query
    event_types = _event_types(query)
    limit = _limit(
        query, default=LOGS_LIMIT_DEFAULT, maximum=LOGS_LIMIT_MAX, strict=True
    )
    files, has_more = data.list_log_files(
        event_types,
        after=parse_iso_time(query, "after"),
        before=parse_iso_time(query, "before"),
        limit=limit,
        exclusive=data.after_exclusive,
        hide=data.listed_files(),
    )
    last_end_time = files[-1].end_time_iso if files else None
    if faults is not None:
        if data.after_exclusive and query.get("after"):
            # A mode, counted per listing page it shaped.
            faults.injected["listing_after_exclusive"] += 1
        if faults.stuck(request):
            has_more = True
            last_end_time = query.get("after") or last_end_time
    return {
        "object": "list",
        "data": [f.listing_item() for f in files],
        "has_more": has_more,
        "last_end_time": last_end_time,
    }


def compliance_routes(
    data: ComplianceData,
    keys: SandboxKeys,
    *,
    storage_base: Callable[[], str],
    faults: FaultInjector | None = None,
) -> list[web.RouteDef]:
    """The Compliance API routes (``/v1/compliance/workspaces/{id}/...``).

    Errors are raised as :class:`ApiError` for the application's middleware to
    render. *storage_base* is called per download because the storage origin's
    port is known only once its site has started. *faults* answers whether a
    listing page is to be stuck (``stuck_cursor``).
    """

    def stuck(request: web.Request) -> bool:
        return faults is not None and faults.stuck(request)

    allowed = frozenset({keys.compliance})

    def check(request: web.Request) -> None:
        _check_workspace(request, data, allowed)

    async def list_logs(request: web.Request) -> web.Response:
        check(request)
        return json_response(_logs_listing(request, data, faults))

    async def get_log(request: web.Request) -> web.Response:
        check(request)
        log_id = request.match_info["log_id"]
        if data.log_file(log_id) is None:
            raise ApiError(
                404, f"No log file found with id '{log_id}'.", param="log_id"
            )
        location = data.signer.url(storage_base(), log_id)
        return web.Response(status=307, headers={"Location": location})

    def legacy(
        page: Callable[[str | None, int], tuple[list[dict[str, Any]], bool]],
        default: int,
        maximum: int,
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            check(request)
            limit = _limit(
                request.query, default=default, maximum=maximum, strict=False
            )
            after = request.query.get("after") or None
            items, has_more = page(after, limit)
            body = _list_body(items, has_more)
            if stuck(request):
                body["has_more"] = True
                body["last_id"] = after or body["last_id"]
            return json_response(body)

        return handler

    return [
        web.get(f"{WORKSPACE_PATH}/logs", list_logs),
        web.get(f"{WORKSPACE_PATH}/logs/{{log_id}}", get_log),
        web.get(f"{WORKSPACE_PATH}/users", legacy(data.users_page, 200, 200)),
        web.get(f"{WORKSPACE_PATH}/gpts", legacy(data.gpts_page, 20, 100)),
        web.get(f"{WORKSPACE_PATH}/projects", legacy(data.projects_page, 20, 100)),
    ]


def _storage_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")


def storage_routes(data: ComplianceData) -> list[web.RouteDef]:
    """The routes of the object-storage origin the downloads redirect to.

    Like a presigned object-store URL, the query signature is the only
    credential; an ``Authorization`` header as well is a 400, which is what a
    client that keeps its bearer token across the redirect runs into.
    """

    async def download(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        log_id = name.removesuffix(".jsonl")
        refusal = _refuse_download(request, data, name, log_id)
        if refusal is not None:
            return refusal
        return await _send_file(request, data, log_id, name)

    return [web.get(f"{STORAGE_PREFIX}/{{name}}", download)]


def _refuse_download(
    request: web.Request, data: ComplianceData, name: str, log_id: str
) -> web.Response | None:
    """The object store's refusal of a download, or ``None`` to serve it."""
    if "Authorization" in request.headers:
        return _storage_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Signature query "
            "parameter or the Authorization header should be specified",
        )
    verdict = data.signer.check(
        log_id, request.query.get("X-Signature"), request.query.get("X-Expires")
    )
    if verdict == "missing":
        return _storage_error(
            403,
            "AccessDenied",
            "Query-string authentication requires the X-Signature and "
            "X-Expires parameters",
        )
    if verdict == "bad":
        return _storage_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the "
            "signature you provided.",
        )
    if verdict == "expired":
        return _storage_error(403, "AccessDenied", "Request has expired")
    if log_id == name or data.log_file(log_id) is None:
        return _storage_error(404, "NoSuchKey", "The specified key does not exist.")
    return None


async def _drip(
    request: web.Request, response: web.StreamResponse, rest: bytes, interval: float
) -> None:
    """Send *rest* a byte every *interval* seconds, each in time for a
    per-read timeout, until the client hangs up or has it all."""
    for offset in range(len(rest)):
        if not await wait_for_hangup(request, interval):
            return
        try:
            await response.write(rest[offset : offset + 1])
        except ConnectionError:
            return
    await response.write_eof()


async def _send_file(
    request: web.Request, data: ComplianceData, log_id: str, name: str
) -> web.StreamResponse:
    """Stream a file's JSONL body in chunks, with its full length announced.

    Object stores announce the length, so a download cut short is an error
    the client sees, never a silently shorter file. The fault injector asks
    for exactly that cut through ``TRUNCATE_DOWNLOAD``.
    """
    size = data.file_size(log_id)
    slowed = request.get(STALL_DOWNLOAD)
    stall = slowed is not None
    truncate = stall or request.get(TRUNCATE_DOWNLOAD) is not None
    response = web.StreamResponse(
        headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
    response.content_type = "application/jsonl"
    response.content_length = size
    await response.prepare(request)
    budget = size // 2 if truncate else size
    chunk: list[bytes] = []
    buffered = 0
    for line in data.iter_file_chunks(log_id):
        chunk.append(line)
        buffered += len(line)
        if buffered >= min(_STREAM_CHUNK, budget):
            body = b"".join(chunk)[:budget]
            await response.write(body)
            budget -= len(body)
            chunk.clear()
            buffered = 0
            if budget == 0:
                break
    if slowed is not None and slowed.startswith("drip:"):
        rest = b"".join(data.iter_file_chunks(log_id))[size // 2 :]
        await _drip(request, response, rest, float(slowed.removeprefix("drip:")))
        request[STALL_DOWNLOAD] = "done"
        return response
    if stall:
        # Half the file is out; nothing more until the client gives up.
        await wait_for_hangup(request, MAX_STALL_SECONDS)
        request[STALL_DOWNLOAD] = "done"
        if request.transport is not None:
            request.transport.close()
        return response
    if truncate:
        request[TRUNCATE_DOWNLOAD] = "done"
        if request.transport is not None:
            # close(), unlike abort(), flushes what is buffered first.
            request.transport.close()
        return response
    if chunk:
        await response.write(b"".join(chunk))
    await response.write_eof()
    return response
