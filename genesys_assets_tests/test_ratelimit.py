"""The limiter paces, spends the server's budget, then waits for the window to reset."""

import threading

from genesys_assets.genesys.ratelimit import RateLimiter, shared_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(per_minute: float) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(per_minute, clock=clock, sleep=clock.sleep), clock


def test_requests_are_spaced_at_the_configured_pace():
    limiter, clock = make(120)  # one every 0.5 s
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 0.5, 0.5, 0.5]
    assert clock.now == 1001.5


def test_the_server_budget_is_spent_then_the_window_reset_is_awaited():
    limiter, clock = make(6000)  # pace never the bottleneck here
    limiter.acquire()
    # 20 allowed, 1 used, 10 s to the reset: 20 * 0.9 = 18 usable, 17 left.
    limiter.observe(allowed=20, used=1, reset_s=10.0, in_flight=0)
    start = clock.now
    for _ in range(17):
        limiter.acquire()
    assert clock.now - start < 1.0
    limiter.acquire()  # budget spent: waits for the window
    assert clock.now >= start + 10.0


def test_in_flight_requests_count_against_the_budget():
    limiter, clock = make(6000)
    limiter.observe(allowed=10, used=5, reset_s=30.0, in_flight=4)  # 9 usable - 5 - 4 = 0
    start = clock.now
    limiter.acquire()
    assert clock.now >= start + 30.0


def test_hold_off_delays_everyone():
    limiter, clock = make(6000)
    limiter.acquire()
    limiter.hold_off(5.0)
    start = clock.now
    limiter.acquire()
    assert clock.now >= start + 5.0


def test_one_limiter_per_client_and_host_for_the_whole_process():
    a = shared_limiter("https://api.x", "client", 250)
    found = []
    thread = threading.Thread(
        target=lambda: found.append(shared_limiter("https://api.x", "client", 250))
    )
    thread.start()
    thread.join()
    assert found == [a]
    assert shared_limiter("https://api.x", "other", 250) is not a
