"""The guide's "Full Production Pattern", ported statement by statement.

From "Writing a Worker Pool for Production": three workers drain a buffered
channel of five jobs, each taking half a second, then the program closes the
channel, waits for the workers and exits. The comment on each line is the Go
statement it ports; the Go program's own comments are kept as they were.

Run it: ``python examples/guide_full_pattern.py``. Five half-second jobs on
three workers take two rounds, about one second, not the two and a half a
single worker would need.
"""

import sys
import time

from gochan import Chan, WaitGroup, go


def main() -> None:  # func main() {
    # 1. Setup
    jobs = Chan[int](100)  # jobs := make(chan int, 100)
    wg = WaitGroup()  # var wg sync.WaitGroup

    # 2. Start Workers
    for w in range(1, 4):  # for w := 1; w <= 3; w++ {
        wg.add(1)  # wg.Add(1)

        def worker(id: int) -> None:  # go func(id int) {
            try:  # defer wg.Done() (the finally clause below)
                for j in jobs:  # for j := range jobs {
                    # fmt.Printf("Worker %d started job %d\n", id, j)
                    # One write per line, as Printf does: print() writes the
                    # text and the newline separately, so lines printed by
                    # concurrent workers could run into each other.
                    sys.stdout.write(f"Worker {id} started job {j}\n")
                    time.sleep(0.5)  # time.Sleep(500 * time.Millisecond)
                    # fmt.Printf("Worker %d finished job %d\n", id, j)
                    sys.stdout.write(f"Worker {id} finished job {j}\n")
            finally:
                wg.done()

        go(worker, w)  # }(w)

    # 3. Send Work
    for j in range(1, 6):  # for j := 1; j <= 5; j++ {
        jobs.send(j)  # jobs <- j

    # 4. Graceful Shutdown
    jobs.close()  # close(jobs) // Signal workers to stop
    wg.wait()  # wg.Wait()   // Wait for them to finish

    print("Shutdown complete")  # fmt.Println("Shutdown complete")


if __name__ == "__main__":
    main()
