"""The generated Compliance API data of one organization (:class:`ComplianceData`).

The data is generated once per organization and kept as compact columns
(timestamps in ``array('q')``, small integer columns), because a benchmark
asks for hundreds of thousands of messages and one dict per record would cost
gigabytes. Every JSON record is rendered from its index when it is served
(:mod:`.compliance_records`), so the same seed renders the same bytes on
every run.

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
import math
import random
from array import array
from bisect import bisect_left, bisect_right
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from aiaudit_chatgpt.sandbox._web import Publication
from aiaudit_chatgpt.sandbox.compliance_content import (
    _GPT_TOOLS,
    _GPT_VISIBILITY,
    _TOPICS,
    _VISIBILITIES,
)
from aiaudit_chatgpt.sandbox.compliance_records import (
    _AUTH_FLAG_FAILED,
    _AUTH_FLAG_PASSWORD,
    _HOUR_US,
    _K_GPT,
    _K_KNOWLEDGE,
    _K_PROJECT,
    _K_SHARE,
    _K_USER,
    _US,
    AUDIT_EVENT_TYPES,
    AUTH_LOG,
    CONVERSATION_MESSAGE,
    GENERATED_EVENT_TYPES,
    LogFile,
    _AdminActions,
    _Conversations,
    _from_us,
    _hex,
    _Messages,
    _mix,
    _SignIns,
    _Source,
    _to_us,
)
from aiaudit_chatgpt.sandbox.compliance_storage import _STREAM_CHUNK, UrlSigner
from aiaudit_chatgpt.sandbox.org import stable_token
from aiaudit_chatgpt.sandbox.poison import dumps, poison_gpt, poison_sign_in


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from datetime import datetime

    from aiaudit_chatgpt.sandbox.org import CustomGPT, Organization, Project, User


__all__ = [
    "LOGS_LIMIT_DEFAULT",
    "LOGS_LIMIT_MAX",
    "OVERSIZED_LINE_BYTES",
    "ComplianceData",
]

LOGS_LIMIT_DEFAULT: Final = 100
LOGS_LIMIT_MAX: Final = 100
OVERSIZED_LINE_BYTES: Final = 5 * 1024 * 1024
"""The default length of the ``oversized`` profile's line."""
_PLACEHOLDER: Final = "@@aiaudit-oversized@@"

# Activity by UTC hour of day and by weekday (Monday first): a company that
# works office hours, with a lunch dip and quiet weekends.
_HOUR_WEIGHTS: Final = (
    0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.20, 0.45, 0.80, 1.00, 1.00, 0.95,
    0.70, 0.90, 1.00, 1.00, 0.90, 0.70, 0.45, 0.30, 0.22, 0.15, 0.10, 0.06,
)  # fmt: skip
_DAY_WEIGHTS: Final = (1.00, 1.05, 1.05, 1.00, 0.85, 0.14, 0.10)
_TURN_WEIGHTS: Final = (30, 22, 16, 11, 8, 6, 4, 3)
_GPT_SHARE: Final = 0.12
_PROJECT_SHARE: Final = 0.10
_INACTIVE_PERCENT: Final = 4
_AUTH_FAILURE_SHARE: Final = 0.06
_AUTH_PASSWORD_SHARE: Final = 0.15


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
        self.seeded_uploads = _plan_uploads(self.seed, self.conversations)
        """Conversation to the files its first prompt attaches, planned so
        that sensitive uploads are always there (``docs/sandbox.md``)."""
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


SEEDED_UPLOADS: Final = (
    ("soc2-report.pdf",),
    ("payroll-2026-11.xlsx", "salary-bands.csv"),
    ("prod.env",),
    ("customers-export.csv", "q3-forecast.xlsx"),
)
"""The files of the planned uploads, one tuple per conversation: the first
three by three different people, the last by the first of them again."""


def _plan_uploads(
    seed: int, conversations: _Conversations
) -> dict[int, tuple[str, ...]]:
    """Which conversations open with :data:`SEEDED_UPLOADS`, drawn from the
    seed; the others keep their random attachments (the ordinary ones)."""
    order = list(range(len(conversations)))
    random.Random(f"upload-seeds:{seed}").shuffle(order)  # noqa: S311 - test data
    chosen: list[int] = []
    people: list[int] = []
    for c in order:
        user = conversations.user[c]
        if user not in people:
            chosen.append(c)
            people.append(user)
            if len(chosen) == len(SEEDED_UPLOADS) - 1:
                break
    again = (
        next(
            (
                c
                for c in order
                if c not in chosen and conversations.user[c] == people[0]
            ),
            None,
        )
        if people
        else None
    )
    if again is not None:
        chosen.append(again)
    return dict(zip(chosen, SEEDED_UPLOADS, strict=False))


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
