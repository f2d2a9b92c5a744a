"""A sandbox's faults fall on the same requests on every run of a seed."""

from __future__ import annotations

from connector_core import FaultDraw, SandboxOptions


def _draws(draw: FaultDraw, count: int) -> list[bool]:
    return [draw.draw() for _ in range(count)]


def test_the_same_seed_disturbs_the_same_requests():
    options = SandboxOptions(seed=3, faults="server_error", fault_rate=0.3)
    first, second = FaultDraw.of(options), FaultDraw.of(options)
    assert first is not None
    assert second is not None
    assert _draws(first, 200) == _draws(second, 200)
    assert first.seen == 200
    assert 30 < first.injected < 90  # about three in ten
    other = FaultDraw("server_error", 0.3, seed=4)
    assert _draws(other, 200) != _draws(FaultDraw("server_error", 0.3, seed=3), 200)


def test_rate_zero_never_and_rate_one_always():
    assert not any(_draws(FaultDraw("x", 0.0, seed=1), 50))
    assert all(_draws(FaultDraw("x", 1.0, seed=1), 50))


def test_no_profile_no_draw():
    assert FaultDraw.of(SandboxOptions(faults=None, fault_rate=1.0)) is None
