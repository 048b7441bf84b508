// next: straight-line statements in a long loop, with a few parked
// goroutines (as in any real program), for timing `next`.
package main

import "sync"

var sink int

//go:noinline
func parked(ch chan int, wg *sync.WaitGroup) {
	wg.Done()
	<-ch
}

func main() {
	ch := make(chan int)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go parked(ch, &wg)
	}
	wg.Wait()
	a, b, c := 0, 1, 2
	for i := 0; i < 100000000; i++ {
		a += i // BENCH:next
		b ^= a
		c += b & 7
		a -= c
		b += 3
		sink = a + b + c
	}
	close(ch)
}
