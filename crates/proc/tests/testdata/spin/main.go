// spin: GOMAXPROCS=4 goroutines calling main.work in a tight loop.
// Usage: spin [iterations per goroutine, default 200000]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

var total atomic.Int64

//go:noinline
func work(i int) int {
	total.Add(1)
	return i * 2
}

func main() {
	runtime.GOMAXPROCS(4)
	iters := 200000
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			iters = n
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := 0
			for i := 0; i < iters; i++ {
				s += work(i)
			}
			_ = s
		}()
	}
	wg.Wait()
	fmt.Println("done", total.Load())
	os.Exit(0)
}
