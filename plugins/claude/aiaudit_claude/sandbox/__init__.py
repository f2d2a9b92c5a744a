"""A local Anthropic organization: the Compliance API's Activity Feed on
loopback, with seeded data, scoped keys, the per-organization rate budget
and the conformance suite's fault profiles (see :mod:`.server`)."""
