"""Rate limiting with a ``Ticker``, then a limiter that allows short bursts.

Port of Go by Example: Rate Limiting. Five queued requests are served one per
200 ms tick. Then a buffered channel of three "permits", refilled by a
ticker goroutine, lets a burst of three requests through at once while the
rest still wait for the ticker.

Run it: ``python examples/rate_limiting.py``. Each line shows when the request
was served, in seconds since its part began: 0.2, 0.4 ... 1.0, then 0.0,
0.0, 0.0, 0.2, 0.4.
"""

import time

from gochan import Chan, Ticker, go, tick

INTERVAL = 0.2  # 200 * time.Millisecond


def main() -> None:
    """Serve five requests at a steady rate, then five with a burst of three."""
    # Basic rate limiting: the requests wait in a buffered channel.
    requests = Chan[int](5)  # requests := make(chan int, 5)
    for i in range(1, 6):
        requests.send(i)
    requests.close()

    # A receive from the ticker's channel every 200 ms paces the loop.
    # (Go by Example uses time.Tick; a Ticker can be stopped when done.)
    start = time.monotonic()
    limiter = Ticker(INTERVAL)  # limiter := time.NewTicker(200 * time.Millisecond)
    try:  # defer limiter.Stop()
        for req in requests:  # for req := range requests {
            limiter.c.recv()  # <-limiter.C
            print(f"request {req} {time.monotonic() - start:.3f}s")
    finally:
        limiter.stop()

    # Bursty rate limiting: up to three permits are banked in a buffered
    # channel, so a burst of three goes through at once; a ticker goroutine
    # adds one permit per 200 ms, up to the channel's capacity.
    start = time.monotonic()
    bursty_limiter = Chan[float](3)  # burstyLimiter := make(chan time.Time, 3)

    # Fill the bank: the burst that is allowed right away.
    for _ in range(3):
        bursty_limiter.send(time.monotonic())  # burstyLimiter <- time.Now()

    def refill() -> None:  # go func() {
        # for t := range time.Tick(200 * time.Millisecond) { burstyLimiter <- t }
        # As in Go, this goroutine runs until the program exits.
        for t in tick(INTERVAL):
            bursty_limiter.send(t)

    go(refill)

    # Five more requests: the first three use the banked permits.
    bursty_requests = Chan[int](5)  # burstyRequests := make(chan int, 5)
    for i in range(1, 6):
        bursty_requests.send(i)
    bursty_requests.close()
    for req in bursty_requests:  # for req := range burstyRequests {
        bursty_limiter.recv()  # <-burstyLimiter
        print(f"request {req} {time.monotonic() - start:.3f}s")


if __name__ == "__main__":
    main()
