// call: a stop in main from which `call add(i, 2)` is injected repeatedly,
// while other goroutines exist.
package main

import "sync"

//go:noinline
func add(a, b int) int { return a + b }

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
	i := 40
	i = add(i, 2) // BENCH:call
	close(ch)
	println(i)
}
