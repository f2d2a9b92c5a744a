"""The canned texts the Compliance API sandbox writes its records from.

Conversations need something to say and admin actions something to change;
these tables are that material, kept apart from the code that picks from them
so the wording can grow without touching how records are rendered. Which
entry a record gets is decided by a hash of the seed, never by position in
a run, so editing a table changes the rendered text but not the record count.
"""

from __future__ import annotations

from typing import Final

import attrs


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
