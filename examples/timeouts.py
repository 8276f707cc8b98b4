"""Timeouts with ``select`` and ``after``.

Port of Go by Example: Timeouts. Each call is simulated by a goroutine that
answers after 2 s; the first ``select`` gives up after 1 s, the second waits
up to 3 s and gets the answer. The result channels are buffered, so a
goroutine whose answer nobody waits for any more can still send and exit.

Run it: ``python examples/timeouts.py`` prints ``timeout 1`` then ``result 2``.
``GOCHAN_EXAMPLE_FAST=1`` makes every duration ten times shorter.
"""

import os
import time

from gochan import Chan, after, go, select

# time.Second, shortened when the test suite asks for speed.
SECOND = 0.1 if os.environ.get("GOCHAN_EXAMPLE_FAST") else 1.0


def main() -> None:
    """Run two calls, one that times out and one that answers in time."""
    # A slow external call, simulated: its answer arrives on c1 after 2 s.
    # c1 has room for that answer, so the goroutine can send it and exit even
    # after we stopped waiting for it (an unbuffered c1 would leak it).
    c1 = Chan[str](1)

    def call1() -> None:  # go func() {
        time.sleep(2 * SECOND)
        c1.send("result 1")

    go(call1)

    # Wait for whichever comes first: the answer, or a value from a 1 s
    # timer. The call takes 2 s, so the timer wins.
    i, res = select(c1.recv, after(1 * SECOND).recv)
    if i == 0:  # case res := <-c1:
        print(res)
    else:  # case <-time.After(1 * time.Second):
        print("timeout 1")

    # The same call with 3 s to spare: this time the answer wins.
    c2 = Chan[str](1)

    def call2() -> None:  # go func() {
        time.sleep(2 * SECOND)
        c2.send("result 2")

    go(call2)

    i, res = select(c2.recv, after(3 * SECOND).recv)
    if i == 0:  # case res := <-c2:
        print(res)
    else:  # case <-time.After(3 * time.Second):
        print("timeout 2")


if __name__ == "__main__":
    main()
