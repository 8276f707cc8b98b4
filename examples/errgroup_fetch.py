"""Parallel fetches with ``errgroup``: two at a time, and the first error cancels the rest.

After the examples of ``golang.org/x/sync/errgroup`` (``Group`` "JustErrors"
and "Parallel"), with ``set_limit``. Each URL is fetched in a goroutine of the
group; ``g.wait()`` returns the first error (here: the first exception
raised). With ``errgroup.with_context``, that first error also cancels the
group's context, so the fetches still running or not yet started give up at
once instead of finishing work nobody will use.

The network is simulated, so the example runs anywhere: each known host
answers after a short delay, and ``www.somestupidname.com`` (the host of the
errgroup example that fails) does not resolve.

Run it: ``python examples/errgroup_fetch.py``.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from urllib.parse import urlsplit

from gochan import after, context, errgroup, select

URLS = [
    "http://www.golang.org/",
    "http://www.google.com/",
    "https://go.dev/blog/",
    "https://pkg.go.dev/",
]
BAD_URL = "http://www.somestupidname.com/"
LIMIT = 2  # fetches at once

# The simulated network: how long each host takes to answer.
LATENCY = {"www.golang.org": 0.3, "www.google.com": 0.2, "go.dev": 0.25, "pkg.go.dev": 0.2}


def http_get(ctx: context.Context, url: str) -> bytes:
    """Fetch ``url`` (simulated): its body, unless the host is unknown or ``ctx`` ends first.

    Go: ``http.Get`` of a request made with ``http.NewRequestWithContext``.
    """
    host = urlsplit(url).hostname or ""
    if host not in LATENCY:
        raise OSError(f'Get "{url}": dial tcp: lookup {host}: no such host')
    i, _ = select(after(LATENCY[host]).recv, ctx.done().recv)
    if i == 1:  # case <-ctx.Done(): return nil, ctx.Err()
        err = ctx.err()
        assert err is not None  # done is closed, so err() says why
        raise err
    return f"<html><body>{url}</body></html>".encode()


class InFlight:
    """Counts the fetches running now, and the most that ever ran at once.

    The fetches run in several goroutines, so a lock guards both counts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._now -= 1


def fetch_all(urls: list[str]) -> tuple[list[bytes | None], BaseException | None, int]:
    """Fetch ``urls``, at most ``LIMIT`` at once: the bodies, the first error, the most at once."""
    # g, ctx := errgroup.WithContext(context.Background())
    g, ctx = errgroup.with_context(context.background())
    g.set_limit(LIMIT)  # g.SetLimit(2)
    # Each goroutine writes only its own slot, and g.wait() returns after the
    # last of them has finished, so the caller sees every body (Go: the
    # "Parallel" example's results slice).
    bodies: list[bytes | None] = [None] * len(urls)
    in_flight = InFlight()

    def fetch(i: int, url: str) -> None:
        with in_flight:
            try:
                bodies[i] = http_get(ctx, url)
            except Exception as err:
                # A fetch stopped by the group says why the group was canceled.
                why = f" (cause: {context.cause(ctx)})" if ctx.err() is not None else ""
                sys.stdout.write(f"{url}: {err}{why}\n")
                raise  # return err: the group keeps the first one
            sys.stdout.write(f"{url}: {len(bodies[i] or b'')} bytes\n")

    for i, url in enumerate(urls):
        # Launch a goroutine to fetch the URL. At the limit, g.go waits for
        # one of the running fetches to finish.
        g.go(fetch, i, url)  # g.Go(func() error { ... })
    # Wait for all HTTP fetches to complete.
    err = g.wait()
    return bodies, err, in_flight.most


def report(bodies: list[bytes | None], most: int) -> None:
    """Print how many URLs were fetched, and how many fetches ran at once."""
    fetched = sum(body is not None for body in bodies)
    print(f"{fetched} of {len(bodies)} fetched, at most {most} at once")


def main() -> None:
    """Fetch the URLs once as they are, then once more with a host that does not resolve."""
    print(f"== {len(URLS)} URLs, at most {LIMIT} at a time")
    bodies, err, most = fetch_all(URLS)
    if err is None:  # if err := g.Wait(); err == nil {
        print("Successfully fetched all URLs.")
    report(bodies, most)

    print(f"== the same, after {BAD_URL}")
    bodies, err, most = fetch_all([BAD_URL, *URLS])
    if err is not None:
        print(f"Fetch failed: {err}")
    report(bodies, most)


if __name__ == "__main__":
    main()
