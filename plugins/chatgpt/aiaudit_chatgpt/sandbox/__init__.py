"""A faithful local server of the OpenAI Admin API and the ChatGPT Compliance API.

Nobody can run a connector against ChatGPT Enterprise without a paid
workspace and an owner's keys; the sandbox is how the demo, the tests, the
conformance suite and the benchmarks run anyway. It is a real aiohttp server
on loopback, close enough to the real APIs that the official ``openai`` SDK
cannot tell the difference, serving a seeded organization's data.
"""
