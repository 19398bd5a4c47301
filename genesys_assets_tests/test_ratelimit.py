"""The limiter keeps a per-minute ceiling, spends the server's budget, then waits for the reset."""

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


def test_the_ceiling_allows_a_burst_then_waits_for_the_window():
    limiter, clock = make(120)  # at most 120 in any 60 s
    start = clock.now
    waits = [limiter.acquire() for _ in range(120)]
    assert waits == [0.0] * 120  # a burst within the minute is what Genesys allows
    assert limiter.acquire() == 60.0  # the 121st goes when the first leaves the window
    assert clock.now == start + 60.0
    assert limiter.acquire() == 0.0  # the second one left the window at the same time


def test_never_more_than_the_ceiling_in_any_60_seconds():
    limiter, clock = make(30)
    sent = []
    for i in range(200):
        limiter.acquire()
        sent.append(clock.now)
        clock.now += 0.7 if i % 3 else 0.1  # an uneven caller
    for i, t in enumerate(sent):
        assert sum(1 for u in sent[i:] if u < t + 60.0) <= 30


def test_a_fractional_ceiling_under_one_a_minute():
    limiter, _ = make(0.5)  # one request every two minutes
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 120.0


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


def test_callers_behind_one_that_waits_for_a_reset_wait_too():
    # Two threads asking at the same instant: the clock does not move while they sleep.
    clock = FakeClock()
    limiter = RateLimiter(6000, clock=clock, sleep=lambda seconds: None)
    limiter.observe(allowed=10, used=9, reset_s=20.0, in_flight=0)  # 9 usable - 9 = none left
    assert limiter.acquire() == 20.0  # waits for the reset
    # The budget is unknown again, but this caller must not jump the queue.
    assert limiter.acquire() >= 20.0
