// Command spin runs until killed (at most 120 s), calling tick every 10 ms,
// for attach/detach tests. It prints its PID first.
package main

import (
	"fmt"
	"os"
	"time"
)

var ticks int

//go:noinline
func tick(n int) int {
	ticks = n // BP:tick
	return ticks
}

func main() {
	fmt.Printf("pid=%d\n", os.Getpid())
	deadline := time.Now().Add(120 * time.Second)
	for n := 1; time.Now().Before(deadline); n++ {
		tick(n)
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("spin timeout")
}
