"""The generated organization every sandbox API serves.

One seeded :class:`Organization` holds the people and things the OpenAI
organization and its ChatGPT Enterprise workspace share: users (with how busy
each one is), projects, service accounts, API keys and custom GPTs. The audit
log, the Compliance API and the usage API all draw their actors from it, so
the same person appears with the same id and email everywhere, as in the real
products.

Everything is a function of the seed and the time span: the same seed gives
the same organization, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs


__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "MODELS",
    "ApiKey",
    "CustomGPT",
    "Organization",
    "Project",
    "ServiceAccount",
    "User",
    "stable_token",
]

FIRST_NAMES: Final = (
    "ada", "alan", "amara", "ben", "carla", "chen", "dana", "diego", "elif",
    "emma", "farah", "felix", "grace", "hana", "ivan", "jonas", "kofi", "lena",
    "liam", "maya", "mei", "nadia", "noah", "olga", "omar", "priya", "quinn",
    "ravi", "sara", "sven", "tara", "theo", "uma", "viktor", "wen", "yara",
    "yusuf", "zoe",
)  # fmt: skip
LAST_NAMES: Final = (
    "abbott", "bauer", "costa", "dubois", "eriksen", "fischer", "garcia",
    "haddad", "ito", "jensen", "kowalski", "lindqvist", "moreau", "nakamura",
    "okafor", "petrov", "quintero", "rossi", "schmidt", "tanaka", "usman",
    "varga", "weber", "xu", "yilmaz", "zhang",
)  # fmt: skip
MODELS: Final = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "gpt-5")
PROJECT_KINDS: Final = ("Assistant", "Search", "Bot", "Pipeline", "Evaluations")
SERVICE_KINDS: Final = ("ingest", "batch", "eval", "support-bot", "etl")
DEPARTMENTS: Final = (
    "Research", "Support", "Marketing", "Finance", "Legal", "Platform",
    "Data Science", "Sales", "Security", "Design",
)  # fmt: skip


def stable_token(seed: int, *parts: object, length: int = 12) -> str:
    """A deterministic lowercase token for ids: same inputs, same token."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=16).hexdigest()
    return digest[:length]


@attrs.frozen(kw_only=True)
class User:
    """A member of the organization and of the ChatGPT workspace.

    Attributes:
        index: Position in :attr:`Organization.users`.
        weight: Relative activity; a few people do most of the work.
        key_id: The tracking id of the user's own API key.
    """

    index: int
    id: str
    email: str
    name: str
    role: str
    added_at: int
    weight: float
    key_id: str
    department: str


@attrs.frozen(kw_only=True)
class Project:
    """An API Platform project (Admin API) and its ChatGPT counterpart."""

    index: int
    id: str
    name: str
    created_at: int
    owner: int


@attrs.frozen(kw_only=True)
class ServiceAccount:
    """A project's service account; it acts through its own API key."""

    index: int
    id: str
    key_id: str
    project: int
    name: str


@attrs.frozen(kw_only=True)
class ApiKey:
    """An organization admin key, as ``/organization/admin_api_keys`` lists."""

    id: str
    name: str
    redacted_value: str
    created_at: int
    owner: int


@attrs.frozen(kw_only=True)
class CustomGPT:
    """A custom GPT built in the workspace."""

    index: int
    id: str
    name: str
    description: str
    owner: int
    created_at: int
    updated_at: int
    instructions: str
    tools: tuple[str, ...]
    sharing: str


def _user_count(events: int) -> int:
    return max(25, min(5_000, events // 400))


@attrs.frozen(kw_only=True)
class Organization:
    """The seeded organization.

    Attributes:
        seed: The seed everything derives from.
        start: The first second of generated history (inclusive).
        end: The end of generated history (exclusive).
        org_id: The OpenAI organization id.
        workspace_id: The ChatGPT Enterprise workspace id (a UUID).
        domain: The company's email domain.
    """

    seed: int
    start: datetime
    end: datetime
    org_id: str
    workspace_id: str
    org_name: str
    domain: str
    users: tuple[User, ...]
    projects: tuple[Project, ...]
    service_accounts: tuple[ServiceAccount, ...]
    admin_keys: tuple[ApiKey, ...]
    gpts: tuple[CustomGPT, ...]

    @classmethod
    def generate(
        cls, *, seed: int, events: int, start: datetime, end: datetime
    ) -> Organization:
        """Build the organization for *events* audit events over [start, end)."""
        if start.tzinfo is None or end.tzinfo is None or start >= end:
            raise ValueError("start and end must be aware datetimes, start < end")
        rng = random.Random(f"org:{seed}")  # noqa: S311 - test data, not crypto
        token = stable_token(seed, "org", length=24)
        org_id = f"org-{token}"
        workspace_id = (
            f"{token[:8]}-{token[8:12]}-4{token[13:16]}-a{token[17:20]}-"
            f"{stable_token(seed, 'ws', length=12)}"
        )
        domain = "acme-corp.example"
        history = int((start - timedelta(days=400)).timestamp())
        first = int(start.timestamp())
        users = []
        seen_emails: set[str] = set()
        for index in range(_user_count(events)):
            first_name = rng.choice(FIRST_NAMES)
            last_name = rng.choice(LAST_NAMES)
            email = f"{first_name}.{last_name}@{domain}"
            n = 2
            while email in seen_emails:
                email = f"{first_name}.{last_name}{n}@{domain}"
                n += 1
            seen_emails.add(email)
            users.append(
                User(
                    index=index,
                    id=f"user-{stable_token(seed, 'user', index, length=24)}",
                    email=email,
                    name=f"{first_name.title()} {last_name.title()}",
                    role="owner" if index < 2 else "reader",  # noqa: PLR2004
                    added_at=rng.randint(history, first),
                    # Zipf-like: activity falls off with rank, shuffled below.
                    weight=1.0 / (index + 1) ** 0.8,
                    key_id=f"key_{stable_token(seed, 'ukey', index, length=16)}",
                    department=rng.choice(DEPARTMENTS),
                )
            )
        weights = [u.weight for u in users]
        rng.shuffle(weights)
        users = [attrs.evolve(u, weight=w) for u, w in zip(users, weights, strict=True)]
        projects = tuple(
            Project(
                index=index,
                id=f"proj_{stable_token(seed, 'proj', index, length=20)}",
                name="Default project"
                if index == 0
                else f"{rng.choice(DEPARTMENTS)} {rng.choice(PROJECT_KINDS)} {index}",
                created_at=rng.randint(history, first),
                owner=rng.randrange(len(users)),
            )
            for index in range(max(3, min(300, len(users) // 5)))
        )
        service_accounts = tuple(
            ServiceAccount(
                index=index,
                id=f"svc_acct_{stable_token(seed, 'sa', index, length=20)}",
                key_id=f"key_{stable_token(seed, 'sakey', index, length=16)}",
                project=rng.randrange(len(projects)),
                name=f"{rng.choice(SERVICE_KINDS)}-{index}",
            )
            for index in range(max(2, min(100, len(projects) // 2)))
        )
        admin_keys = tuple(
            ApiKey(
                id=f"key_{stable_token(seed, 'admin', index, length=16)}",
                name=name,
                redacted_value=f"sk-admin...{stable_token(seed, 'a', index, length=3)}",
                created_at=rng.randint(history, first),
                owner=index,
            )
            for index, name in enumerate(("Audit export", "SIEM", "Cost reports"))
        )
        gpts = []
        span = int((end - start).total_seconds())
        for index in range(max(2, min(200, len(users) // 10))):
            created = first + rng.randrange(span)
            topic = rng.choice(
                ("Contract Reviewer", "SQL Helper", "Brand Voice", "Onboarding Buddy",
                 "Incident Summarizer", "Grant Writer", "Pitch Coach", "Code Reviewer")
            )  # fmt: skip
            gpts.append(
                CustomGPT(
                    index=index,
                    id=f"g-{stable_token(seed, 'gpt', index, length=20)}",
                    name=f"{topic} {index}",
                    description=f"Helps the team with {topic.lower()} tasks.",
                    owner=rng.choices(range(len(users)), weights=weights)[0],
                    created_at=created,
                    updated_at=min(
                        created + rng.randrange(86_400 * 7), first + span - 1
                    ),
                    instructions=f"You are the {topic}. Be concise.",
                    tools=tuple(
                        t
                        for t in ("browser", "python", "dalle")
                        if rng.random() < 0.5  # noqa: PLR2004
                    ),
                    sharing=rng.choice(("private", "workspace", "workspace-with-link")),
                )
            )
        return cls(
            seed=seed,
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            org_id=org_id,
            workspace_id=workspace_id,
            org_name="Acme Corp",
            domain=domain,
            users=tuple(users),
            projects=projects,
            service_accounts=service_accounts,
            admin_keys=admin_keys,
            gpts=tuple(
                attrs.evolve(gpt, index=index)
                for index, gpt in enumerate(sorted(gpts, key=lambda g: g.created_at))
            ),
        )

    @property
    def user_weights(self) -> list[float]:
        """Activity weights, in user order, for weighted choices."""
        return [user.weight for user in self.users]
