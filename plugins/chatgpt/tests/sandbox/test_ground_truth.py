"""The sandbox's ground truth is written whole, whatever it serves."""

from __future__ import annotations

import json

from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox, write_ground_truth
from connector_core.sandbox import SandboxOptions


async def test_poisoned_records_are_written_to_the_ground_truth(tmp_path):
    """Poisoned records hold lone surrogates, which strict JSON encoders
    refuse; the ground truth escapes them, as the API serves them, rather
    than stopping part-way through the file."""
    options = SandboxOptions(seed=7, events=2_000, days=7, faults="poisoned")
    async with ChatGPTSandbox.run(options) as sandbox:
        counts = write_ground_truth(sandbox.state, tmp_path)
    for name, count in counts.items():
        lines = (tmp_path / f"{name}.jsonl").read_bytes().splitlines()
        assert len(lines) == count > 0
        for line in lines:
            json.loads(line)
