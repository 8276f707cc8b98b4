"""A pipeline with fan-out, fan-in and explicit cancellation through a ``done`` channel.

Port of the final program of the Go blog's "Go Concurrency Patterns:
Pipelines and cancellation" (Sameer Ajmani, 2014; ``sqdone3.go``): ``gen``
emits numbers, two ``sq`` goroutines square them (fan-out), ``merge`` combines
their outputs (fan-in). ``main`` reads only the first value and returns; the
closing of ``done`` then tells every stage to stop, so no goroutine is left
blocked on a send nobody will receive.

Run it: ``python examples/pipeline.py`` prints 4 or 9 (whichever square comes
first), then confirms that every goroutine of the pipeline has exited.
"""

from gochan import Chan, RecvChan, WaitGroup, go, select
from gochan.testing import verify_no_goroutines


def gen(done: RecvChan[None], *nums: int) -> RecvChan[int]:
    """Emit ``nums`` on the returned channel, then close it; stop early once ``done`` closes."""
    out = Chan[int]()

    def run() -> None:  # go func() {
        try:  # defer close(out)
            for n in nums:
                i, _ = select((out.send, n), done.recv)  # case out <- n: / case <-done:
                if i == 1:
                    return
        finally:
            out.close()

    go(run)
    return out


def sq(done: RecvChan[None], in_: RecvChan[int]) -> RecvChan[int]:
    """Emit the square of each value from ``in_``; stop early once ``done`` closes."""
    out = Chan[int]()

    def run() -> None:  # go func() {
        try:  # defer close(out)
            for n in in_:
                i, _ = select((out.send, n * n), done.recv)  # case out <- n * n: / case <-done:
                if i == 1:
                    return
        finally:
            out.close()

    go(run)
    return out


def merge(done: RecvChan[None], *cs: RecvChan[int]) -> RecvChan[int]:
    """Copy every value from each of ``cs`` to the returned channel; close it when all are done."""
    wg = WaitGroup()  # var wg sync.WaitGroup
    out = Chan[int]()

    # One goroutine per input: it forwards c's values to out until c is
    # drained or done is closed, then marks itself done in wg.
    def output(c: RecvChan[int]) -> None:
        try:  # defer wg.Done()
            for n in c:
                i, _ = select((out.send, n), done.recv)  # case out <- n: / case <-done:
                if i == 1:
                    return
        finally:
            wg.done()

    wg.add(len(cs))
    for c in cs:
        go(output, c)

    # Close out once every forwarder has finished; started after wg.add, so
    # the wait cannot return before the forwarders are counted.
    def closer() -> None:
        wg.wait()
        out.close()

    go(closer)
    return out


def main() -> None:
    """Set up the pipeline, take its first value, and cancel the rest."""
    # One done channel for the whole pipeline: closing it when main returns
    # tells every goroutine of every stage to stop.
    done = Chan[None]()
    try:  # defer close(done)
        in_ = gen(done, 2, 3)

        # Fan out: two sq stages read from the same input.
        c1 = sq(done, in_)
        c2 = sq(done, in_)

        # Fan in, and take only the first value.
        out = merge(done, c1, c2)
        print(out.recv())  # 4 or 9

        # Returning closes done (the finally clause): the stages still
        # holding values stop instead of blocking forever.
    finally:
        done.close()


if __name__ == "__main__":
    main()
    # Not in the Go program: check, as goleak.VerifyNone would in a Go test,
    # that closing done really ended every goroutine the pipeline started.
    verify_no_goroutines(timeout=2.0)
    print("All pipeline goroutines have exited.")
