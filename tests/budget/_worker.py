"""One process spending a shared budget, for the tests beside it.

``python _worker.py URL PREFIX SCOPE RATE START SECONDS``: waits until the
wall-clock time START, then takes tokens as fast as the budget allows for
SECONDS, and prints the wall-clock time of each as a JSON list.
``... pause URL PREFIX SCOPE RATE SECONDS``: pauses the scope for SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from connector_core.shared_budget import RedisRateBudget


async def drain(url, prefix, scope, rate, start, seconds):  # noqa: PLR0917
    budget = RedisRateBudget(url, scope, rate, prefix=prefix)
    await asyncio.sleep(max(0.0, start - time.time()))
    end = time.time() + seconds
    taken = []
    try:
        while True:
            await budget.acquire()
            now = time.time()
            if now >= end:
                break
            taken.append(now)
    finally:
        await budget.aclose()
    print(json.dumps(taken))


async def pause(url, prefix, scope, rate, seconds):
    budget = RedisRateBudget(url, scope, rate, prefix=prefix)
    try:
        await budget.pause_everywhere(seconds)
    finally:
        await budget.aclose()


if __name__ == "__main__":
    if sys.argv[1] == "pause":
        url, prefix, scope, rate, seconds = sys.argv[2:]
        asyncio.run(pause(url, prefix, scope, float(rate), float(seconds)))
    else:
        url, prefix, scope, rate, start, seconds = sys.argv[1:]
        asyncio.run(
            drain(url, prefix, scope, float(rate), float(start), float(seconds))
        )
