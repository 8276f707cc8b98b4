"""A concurrent prime sieve: a daisy chain of filter goroutines.

Port of Go's ``doc/play/sieve.go`` (A Tour of Go; also
``go/test/chan/sieve1.go``). A generator sends 2, 3, 4, ...; each prime found
gets its own filter goroutine that drops its multiples, spliced in at the end
of the chain. Every channel is unbuffered, so each number is handed from
goroutine to goroutine down the chain.

Run it: ``python examples/prime_sieve.py [N]`` prints the first N primes
(default 10). As in Go, the goroutines are still blocked in the chain when
``main`` returns; goroutines are daemon threads, so the program exits anyway.
"""

import itertools
import sys

from gochan import Chan, RecvChan, SendChan, go


def generate(ch: SendChan[int]) -> None:
    """Send 2, 3, 4, ... to ``ch``, forever."""
    for i in itertools.count(2):  # for i := 2; ; i++ {
        ch.send(i)  # ch <- i


def filter(in_: RecvChan[int], out: SendChan[int], prime: int) -> None:
    """Copy ``in_`` to ``out``, dropping the multiples of ``prime``."""
    # for { i := <-in ... }: in is never closed, so a for loop over it is the same.
    for i in in_:
        if i % prime != 0:  # if i%prime != 0 {
            out.send(i)  # out <- i


def main(n: int = 10) -> None:
    """Print the first ``n`` primes: each one found adds a filter to the chain."""
    ch = Chan[int]()  # ch := make(chan int)
    go(generate, ch)  # go Generate(ch)
    for _ in range(n):  # for i := 0; i < 10; i++ {
        prime = ch.recv()  # prime := <-ch
        assert prime is not None  # (None would mean closed; ch never is)
        print(prime)  # print(prime, "\n")
        ch1 = Chan[int]()  # ch1 := make(chan int)
        go(filter, ch, ch1, prime)  # go Filter(ch, ch1, prime)
        ch = ch1  # the next prime comes out of the new end of the chain


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
