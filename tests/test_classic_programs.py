"""The classic Go concurrency programs, end to end.

Each program is written here, inline, as it reads in Go: the Go tour's prime
sieve, the fan-out/fan-in pipeline of the Go blog's "Pipelines and
cancellation" (with a ``done`` channel closed early), and a ``for``/``select``
loop that disables a finished input by setting it to ``nilchan``. Every
goroutine must exit when the program is done or cancelled: the suite's leak
check fails the test otherwise, and the cancellation tests check it
explicitly. An exception in any goroutine fails the test.
"""

from __future__ import annotations

import pytest

from gochan import Chan, RecvChan, SendChan, WaitGroup, go, nilchan, select
from gochan.testing import current_goroutines, verify_no_goroutines
from tests.helpers import WAIT

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def first_primes(n: int) -> list[int]:
    """The first ``n`` primes by trial division: the reference answer."""
    primes: list[int] = []
    k = 2
    while len(primes) < n:
        if all(k % p for p in primes):
            primes.append(k)
        k += 1
    return primes


def recv_value(ch: RecvChan[int]) -> int:
    """Receive a value within the test bound; a closed channel is a failure here."""
    v, ok = ch.recv_ok(timeout=WAIT)
    assert ok and v is not None
    return v


# -- the Go tour's prime sieve ---------------------------------------------
# A daisy chain of filter goroutines; ``done`` stops them (the tour's version
# leaves them running when main returns, which a test must not).


def generate(ch: SendChan[int], done: RecvChan[None]) -> None:
    """Send the sequence 2, 3, 4, ... to channel ``ch``."""
    i = 2
    while True:
        chosen, _ = select((ch.send, i), done.recv)
        if chosen == 1:
            return
        i += 1


def filter_multiples(
    in_: RecvChan[int], out: SendChan[int], prime: int, done: RecvChan[None]
) -> None:
    """Copy the values from ``in_`` to ``out``, removing those divisible by ``prime``."""
    while True:
        match select(in_.recv, done.recv):
            case 0, int(i):
                pass
            case _:  # done, or in_ closed
                return
        if i % prime != 0:
            chosen, _ = select((out.send, i), done.recv)
            if chosen == 1:
                return


def sieve(n: int, done: RecvChan[None]) -> list[int]:
    """The prime sieve: daisy-chain filter goroutines together."""
    ch = Chan[int]()
    go(generate, ch, done)
    primes: list[int] = []
    for _ in range(n):
        prime = recv_value(ch)
        primes.append(prime)
        ch1 = Chan[int]()
        go(filter_multiples, ch, ch1, prime, done)
        ch = ch1
    return primes


def test_prime_sieve_yields_the_first_100_primes() -> None:
    before = current_goroutines()
    done = Chan[None]()
    try:
        primes = sieve(100, done)
    finally:
        done.close()
    assert primes == first_primes(100)
    assert primes[-1] == 541
    verify_no_goroutines(timeout=WAIT, ignore=before)  # the whole chain exited


# -- pipeline with fan-out, fan-in and cancellation -------------------------
# The Go blog's "Pipelines and cancellation": every stage closes its outbound
# channel when it returns, and stops early once ``done`` is closed.


def gen(done: RecvChan[None], *nums: int) -> RecvChan[int]:
    """Emit ``nums`` on a channel that is closed when they are all sent."""
    out = Chan[int]()

    def run() -> None:
        try:
            for n in nums:
                chosen, _ = select((out.send, n), done.recv)
                if chosen == 1:
                    return
        finally:
            out.close()

    go(run)
    return out


def sq(done: RecvChan[None], in_: RecvChan[int]) -> RecvChan[int]:
    """Emit the square of each value received from ``in_``."""
    out = Chan[int]()

    def run() -> None:
        try:
            for n in in_:
                chosen, _ = select((out.send, n * n), done.recv)
                if chosen == 1:
                    return
        finally:
            out.close()

    go(run)
    return out


def merge(done: RecvChan[None], *cs: RecvChan[int]) -> RecvChan[int]:
    """Fan in: copy every value of ``cs`` to one channel, closed once all ``cs`` are."""
    wg = WaitGroup()
    out = Chan[int]()

    def output(c: RecvChan[int]) -> None:
        for n in c:
            chosen, _ = select((out.send, n), done.recv)
            if chosen == 1:
                return

    for c in cs:
        wg.go(output, c)

    def close_when_all_done() -> None:
        assert wg.wait(WAIT), "merge: an output goroutine never finished"
        out.close()

    go(close_when_all_done)
    return out


WORKERS = 4


def start_pipeline(done: RecvChan[None], nums: range) -> RecvChan[int]:
    """gen -> sq on ``WORKERS`` goroutines reading the same channel -> merge."""
    source = gen(done, *nums)
    return merge(done, *[sq(done, source) for _ in range(WORKERS)])


def test_pipeline_fan_out_fan_in_sums_every_square() -> None:
    nums = range(1, 1001)
    done = Chan[None]()
    try:
        merged = start_pipeline(done, nums)
        total = 0
        count = 0
        while True:
            v, ok = merged.recv_ok(timeout=WAIT)
            if not ok:
                break
            assert v is not None
            total += v
            count += 1
    finally:
        done.close()
    assert count == len(nums)
    assert total == sum(n * n for n in nums)


def test_pipeline_cancelled_early_by_closing_done_stops_every_goroutine() -> None:
    before = current_goroutines()
    nums = range(1, 1001)
    done = Chan[None]()
    try:
        merged = start_pipeline(done, nums)
        first = [recv_value(merged), recv_value(merged)]
    finally:
        done.close()  # cancel: the upstream stages stop mid-stream
    squares = {n * n for n in nums}
    assert all(v in squares for v in first)
    verify_no_goroutines(timeout=WAIT, ignore=before)
    # Nobody received while the stages wound down, so no value got through
    # the unbuffered output after the cancellation, and merge closed it.
    assert merged.recv_ok(timeout=WAIT) == (None, False)


# -- for/select, disabling a finished input with nilchan ---------------------


def send_all(ch: Chan[str], values: list[str], wait_for: RecvChan[None] | None = None) -> None:
    """Send ``values`` then close ``ch``; first wait for ``wait_for`` to close, if given."""
    if wait_for is not None:
        _, ok = wait_for.recv_ok(timeout=WAIT)
        assert not ok
    for v in values:
        ch.send(v, timeout=WAIT)
    ch.close()


def test_for_select_disables_a_finished_input_by_setting_it_to_nilchan() -> None:
    a_values = ["a0", "a1", "a2"]
    b_values = [f"b{i}" for i in range(10)]
    a_disabled = Chan[None]()
    a_ch, b_ch = Chan[str](), Chan[str]()
    go(send_all, a_ch, a_values)
    # b starts only once a is closed and disabled: from then on the loop
    # selects over a nilchan case, which must never be ready.
    go(send_all, b_ch, b_values, a_disabled)

    a: RecvChan[str] = a_ch
    b: RecvChan[str] = b_ch

    got: list[str] = []
    iterations = 0
    while a is not nilchan or b is not nilchan:
        iterations += 1
        match select(a.recv_ok, b.recv_ok, timeout=WAIT):
            case 0, (_, False):
                a = nilchan
                a_disabled.close()
            case 1, (_, False):
                b = nilchan
            case _, (v, True):
                got.append(v)

    assert got == a_values + b_values
    # One iteration per value and one per close: a closed input is not spun on.
    assert iterations == len(a_values) + len(b_values) + 2
