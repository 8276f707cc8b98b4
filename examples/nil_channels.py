"""Disabling finished inputs of a ``select`` loop by setting them to ``nilchan``.

Port of the program in Francesc Campoy's "Why are there nil channels in Go?"
(justforfunc #26). ``merge`` forwards values from two channels until both
are closed. A closed channel is always ready in ``select`` (it yields the
zero value at once), so a loop that kept selecting on it would spin; setting
the variable to ``nilchan``, which is never ready, takes that case out of the
``select`` while the other input keeps flowing.

Run it: ``python examples/nil_channels.py`` prints 1 to 8 in an order the
random pauses decide, with "a is done" and "b is done" as each input ends.
``GOCHAN_EXAMPLE_FAST=1`` shortens the pauses from up to 1 s to up to 20 ms.
"""

import os
import random
import sys
import time

from gochan import Chan, RecvChan, go, nilchan, select

# The longest pause between two values of an input (Go: rand.Intn(1000) ms).
MAX_PAUSE = 0.02 if os.environ.get("GOCHAN_EXAMPLE_FAST") else 1.0


def merge(a: RecvChan[int], b: RecvChan[int]) -> RecvChan[int]:
    """Forward every value of ``a`` and ``b`` to the returned channel; close it when both end."""
    c = Chan[int]()

    def run() -> None:  # go func() {
        nonlocal a, b  # a Go closure assigns merge's own a and b
        try:  # defer close(c)
            while a is not nilchan or b is not nilchan:  # for a != nil || b != nil {
                match select(a.recv_ok, b.recv_ok):
                    case 0, (_, False):  # case v, ok := <-a: if !ok {
                        sys.stdout.write("a is done\n")
                        a = nilchan  # never ready again: this case is off
                    case 1, (_, False):  # case v, ok := <-b: if !ok {
                        sys.stdout.write("b is done\n")
                        b = nilchan
                    case _, (v, True):  # c <- v
                        c.send(v)
        finally:
            c.close()

    go(run)
    return c


def as_chan(*vs: int) -> RecvChan[int]:
    """Send ``vs`` on the returned channel with a random pause after each, then close it."""
    c = Chan[int]()

    def run() -> None:  # go func() {
        for v in vs:
            c.send(v)
            time.sleep(random.uniform(0, MAX_PAUSE))  # time.Sleep(rand.Intn(1000) ms)
        c.close()

    go(run)
    return c


def main() -> None:
    """Merge the odd and the even numbers up to 8 and print what comes out."""
    a = as_chan(1, 3, 5, 7)
    b = as_chan(2, 4, 6, 8)
    c = merge(a, b)
    for v in c:  # for v := range c {
        # fmt.Println(v), in one write: print() writes the newline separately,
        # and merge's goroutine prints too.
        sys.stdout.write(f"{v}\n")


if __name__ == "__main__":
    main()
