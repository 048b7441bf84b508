// goroutines: 100,000 goroutines parked in user code, two frames deep,
// then a stop in main for `goroutines`.
package main

import (
	"os"
	"strconv"
	"sync"
)

//go:noinline
func leaf(ch chan struct{}, wg *sync.WaitGroup) {
	wg.Done()
	<-ch
}

//go:noinline
func worker(ch chan struct{}, wg *sync.WaitGroup) {
	leaf(ch, wg)
}

//go:noinline
func ready(n int) int { return n } // BENCH:ready

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	ch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go worker(ch, &wg)
	}
	wg.Wait()
	ready(n)
	close(ch)
}
