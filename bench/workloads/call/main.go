// call: stops in main from which `call add(base, k)` is injected, while
// other goroutines are busy as in testdata/frozen (tight loops without
// calls, an allocation loop that keeps the GC running, a channel ping-pong,
// a timer sleeper) and a few are parked. Each busy goroutine bumps its own
// counter in `ctr`; the benchmark prints `ctr` before and after a batch of
// calls to check whether the other goroutines ran during the calls (a
// frozen call must leave every counter where it was).
package main

import (
	"sync"
	"time"
)

// One field per goroutine, each written by that goroutine only.
type counters struct {
	spin0, spin1 uint64 // tight loops without function calls
	allocs       uint64 // 64 KiB allocations (keeps the GC busy)
	pings, pongs uint64 // channel ping-pong
	sleeps       uint64 // 1 ms timer sleeps
}

var (
	ctr     counters
	sink    []byte
	result  int
	started sync.WaitGroup
)

//go:noinline
func add(a, b int) int { return a + b }

// spin bumps *n in a loop without function calls (only asynchronous
// preemption stops it). Through a pointer: the compiler, even with -N,
// drops the stores of `for { ctr.spin0++ }` (the loop never exits, so the
// global is never read after it) and leaves an empty loop.
func spin(n *uint64) {
	started.Done()
	for {
		*n++
	}
}

func allocator() {
	started.Done()
	for {
		sink = make([]byte, 64<<10)
		ctr.allocs++
	}
}

func pinger(ping, pong chan int) {
	started.Done()
	for {
		ping <- 1
		<-pong
		ctr.pings++
	}
}

func ponger(ping, pong chan int) {
	started.Done()
	for {
		<-ping
		ctr.pongs++
		pong <- 1
	}
}

func sleeper() {
	started.Done()
	for {
		time.Sleep(time.Millisecond)
		ctr.sleeps++
	}
}

//go:noinline
func parked(ch chan int) {
	started.Done()
	<-ch
}

func main() {
	ch := make(chan int)
	started.Add(8 + 6)
	for i := 0; i < 8; i++ {
		go parked(ch)
	}
	ping, pong := make(chan int), make(chan int)
	go spin(&ctr.spin0)
	go spin(&ctr.spin1)
	go allocator()
	go pinger(ping, pong)
	go ponger(ping, pong)
	go sleeper()
	started.Wait()
	base := 40
	// Every stop finds the busy goroutines running: each round lets them
	// run a few milliseconds before the breakpoint.
	for round := 0; ; round++ {
		time.Sleep(5 * time.Millisecond)
		result = add(base, round) // BENCH:call
	}
}
