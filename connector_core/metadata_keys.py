"""The metadata keys every platform's logs share, and the core reads.

:attr:`AIAuditLog.metadata <connector_core.models.AIAuditLog.metadata>` is an
open mapping: a plugin keeps there whatever its platform says. The keys below
are the exception. They mean the same on every platform, so the exports (OCSF,
CSV, the HTML report) and the analytics read them without knowing which
platform wrote a log, and a plugin's normalizer is where they get filled from
the platform's own record shapes. A key is left out when the platform did not
say; nothing here is required.

They are plain names rather than a typed class because metadata stays an open
mapping (stored as JSON, camelCased for hosts): a constant only keeps the
spelling in one place. ``docs/models.md`` lists them for people; a new key
belongs in both places, spelled in snake_case (see the camelCase rule there).
"""

from __future__ import annotations

from typing import Final


__all__ = [
    "ACTOR_TYPE",
    "API_KEY_ID",
    "APP_ACCESS",
    "APP_ID",
    "APP_IS_AI",
    "APP_NAME",
    "APP_REACHES",
    "APP_SCOPES",
    "ASSISTANT_ID",
    "ASSISTANT_NAME",
    "ASSISTANT_TYPE",
    "CONVERSATION_ID",
    "CONVERSATION_TITLE",
    "DETAILS",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "FEATURE",
    "FEATURE_APP",
    "FILES",
    "FILE_ID",
    "FILE_NAME",
    "GROUP_ID",
    "GROUP_NAME",
    "IS_MFA",
    "MODEL",
    "NEUTRAL_KEYS",
    "ORIGINAL_TIME",
    "PROJECT_ID",
    "PROJECT_NAME",
    "RESOURCE_ID",
    "RESOURCE_NAME",
    "RESOURCE_TYPE",
    "TARGET_USER_EMAIL",
    "TARGET_USER_ID",
    "TOKENS_USED",
    "VISIBILITY",
    "WORKSPACE_NAME",
]

# -- who acted ---------------------------------------------------------------

ACTOR_TYPE: Final = "actor_type"
"""``user``, ``admin``, ``service_account``, ``system``, or the platform's own
word for another kind of actor (``bot``)."""

API_KEY_ID: Final = "api_key_id"
"""The credential the actor used, when it was an API key (its id, never the
key)."""

IS_MFA: Final = "is_mfa"
"""A sign-in's second factor: ``True``/``False`` when the platform says,
absent when it does not."""

# -- what the action was performed on --------------------------------------

RESOURCE_TYPE: Final = "resource_type"
"""The kind of thing acted on (``api_key``, ``project``, ``user``), in
snake_case."""

RESOURCE_ID: Final = "resource_id"
"""The platform's id of the thing acted on."""

RESOURCE_NAME: Final = "resource_name"
"""Its name as people know it (a project's title, a role's name)."""

TARGET_USER_ID: Final = "target_user_id"
"""The user an event is about (added, removed, a group's new member), when
that is not the actor."""

TARGET_USER_EMAIL: Final = "target_user_email"
"""That user's email: an invitation names only an address."""

GROUP_ID: Final = "group_id"
"""The group a group event is about; without it the export takes
:data:`RESOURCE_ID`."""

GROUP_NAME: Final = "group_name"
"""That group's name."""

# -- where it happened -------------------------------------------------------

CONVERSATION_ID: Final = "conversation_id"
"""The conversation a message belongs to (as in the shared types)."""

CONVERSATION_TITLE: Final = "conversation_title"
"""That conversation's title."""

PROJECT_ID: Final = "project_id"
"""The project (or workspace folder) the event belongs to (as in the shared
types)."""

PROJECT_NAME: Final = "project_name"
"""That project's name."""

WORKSPACE_NAME: Final = "workspace_name"
"""The workspace's name (as in the shared types)."""

ASSISTANT_ID: Final = "assistant_id"
"""A configured assistant the event used or changed: a custom GPT, a Gem, an
agent."""

ASSISTANT_NAME: Final = "assistant_name"
"""That assistant's name."""

ASSISTANT_TYPE: Final = "assistant_type"
"""What the platform calls that kind of assistant (``gpt``, ``gem``);
``assistant`` when absent."""

# -- third-party apps and AI features ----------------------------------------

APP_NAME: Final = "app_name"
"""A third-party app a person granted access to their account (or revoked it
from), by its name as the platform shows it."""

APP_ID: Final = "app_id"
"""That app's id on the platform (an OAuth client id): names change, ids do
not, so grants are told apart by it when present."""

APP_SCOPES: Final = "app_scopes"
"""What the grant allows, as the platform's own scope strings (a list)."""

APP_ACCESS: Final = "app_access"
"""``granted`` or ``revoked``: the event gave the app access or took it
away. The core's view of granted apps counts an app as still granted to a
person until a later ``revoked`` for the same app and person."""

APP_IS_AI: Final = "app_is_ai"
"""``True`` when the plugin recognises the app as an AI app (from a table
it keeps as data); absent when it cannot tell."""

APP_REACHES: Final = "app_reaches"
"""The kinds of data the grant reaches, in plain words the plugin derives
from the scopes (``mail``, ``files``, ``calendar``, ``contacts``): a list,
empty when none is sensitive."""

FEATURE_APP: Final = "feature_app"
"""Where an AI feature was used (``gmail``, ``docs``): an assistant built
into another product reports the product, and the analytics count uses per
product and feature."""

FEATURE: Final = "feature"
"""Which AI feature was used there (``summarize``, ``generate_text``)."""


VISIBILITY: Final = "visibility"
"""Who can reach a shared thing after a sharing change (an assistant, a
conversation, a project): ``invite_only``, ``workspace``,
``workspace_with_link``, ``anyone_with_link``, ``public``, ``external``
(another organization), or the platform's own word in snake_case. The risk
rule ``shared_outside`` reads it."""


# -- models and files --------------------------------------------------------

MODEL: Final = "model"
"""The AI model used (counted by the analytics' model usage)."""

TOKENS_USED: Final = "tokens_used"
"""Tokens consumed (summed by the analytics' model usage)."""

FILES: Final = "files"
"""Files the event carried: a list of :class:`~connector_core.models.FileReference`
-shaped objects. A file event is about the first."""

FILE_ID: Final = "file_id"
"""The one file a file event is about, when :data:`FILES` is absent."""

FILE_NAME: Final = "file_name"
"""That file's name."""

# -- the outcome and the record ---------------------------------------------

ERROR_CODE: Final = "error_code"
"""Why a failed action failed, as the platform's code."""

ERROR_MESSAGE: Final = "error_message"
"""Why a failed action failed, in words (a sign-in's failure reason)."""

ORIGINAL_TIME: Final = "original_time"
"""The event's time exactly as the platform wrote it, as a string
(``"1735723800"``, ``"2025-01-01T09:30:00Z"``): evidence beside the parsed
``timestamp``."""

DETAILS: Final = "details"
"""The platform's own payload for the event, copied from ``raw`` and kept as
received in every key style. The core never reads inside it."""

NEUTRAL_KEYS: Final = frozenset(
    {
        ACTOR_TYPE,
        API_KEY_ID,
        APP_ACCESS,
        APP_ID,
        APP_IS_AI,
        APP_NAME,
        APP_REACHES,
        APP_SCOPES,
        ASSISTANT_ID,
        ASSISTANT_NAME,
        ASSISTANT_TYPE,
        CONVERSATION_ID,
        CONVERSATION_TITLE,
        DETAILS,
        ERROR_CODE,
        ERROR_MESSAGE,
        FEATURE,
        FEATURE_APP,
        FILES,
        FILE_ID,
        FILE_NAME,
        GROUP_ID,
        GROUP_NAME,
        IS_MFA,
        MODEL,
        ORIGINAL_TIME,
        PROJECT_ID,
        PROJECT_NAME,
        RESOURCE_ID,
        RESOURCE_NAME,
        RESOURCE_TYPE,
        TARGET_USER_EMAIL,
        TARGET_USER_ID,
        TOKENS_USED,
        VISIBILITY,
        WORKSPACE_NAME,
    }
)
"""Every key above: for checks that the docs and the constants agree."""
