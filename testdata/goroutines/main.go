// Command goroutines runs N workers calling work() in a loop, plus
// goroutines parked in the classic blocking states (channel receive, mutex,
// select, sleep), for goroutine listing and goroutine-aware stepping tests.
// It exits on its own after about 2 seconds.
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Workers is the number of worker goroutines.
const Workers = 8

// Iterations is how many times each worker calls work.
const Iterations = 100

var total atomic.Int64

// work is the unit of work of worker id at iteration i.
//
//go:noinline
func work(id, i int) int {
	v := id*1000 + i // BP:work
	total.Add(int64(v))
	return v
}

func worker(id int, wg *sync.WaitGroup) {
	defer wg.Done()
	sum := 0
	for i := 0; i < Iterations; i++ {
		sum += work(id, i) // BP:call
		time.Sleep(time.Millisecond)
	}
	_ = sum
}

// blockedOnRecv waits for a value that arrives at the end of main.
func blockedOnRecv(ch chan int, done *sync.WaitGroup) {
	defer done.Done()
	v := <-ch // BP:recv
	_ = v
}

// blockedOnMutex waits for a mutex main holds until the end.
func blockedOnMutex(mu *sync.Mutex, done *sync.WaitGroup) {
	defer done.Done()
	mu.Lock() // BP:lock
	mu.Unlock()
}

// blockedInSelect waits on two channels, one of which closes at the end.
func blockedInSelect(a chan string, b chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	select { // BP:select
	case <-a:
	case <-b:
	}
}

// sleeper sleeps in one long time.Sleep.
func sleeper(d time.Duration, done *sync.WaitGroup) {
	defer done.Done()
	time.Sleep(d) // BP:sleep
}

func main() {
	var parked sync.WaitGroup
	ch := make(chan int)
	var mu sync.Mutex
	mu.Lock()
	a := make(chan string)
	b := make(chan struct{})
	parked.Add(4)
	go blockedOnRecv(ch, &parked)
	go blockedOnMutex(&mu, &parked)
	go blockedInSelect(a, b, &parked)
	go sleeper(1500*time.Millisecond, &parked)

	var wg sync.WaitGroup
	for id := 1; id <= Workers; id++ {
		wg.Add(1)
		go worker(id, &wg)
	}
	wg.Wait() // BP:wait

	ch <- 1
	mu.Unlock()
	close(b)
	parked.Wait()
	fmt.Printf("workers=%d total=%d\n", Workers, total.Load()) // BP:done
}
