// sleeper: prints "ready", then "tick N" every 10ms for the given number of
// ticks. With a second argument "stdin", it also exits when stdin closes.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

//go:noinline
func tick(n int) int {
	return n + 1
}

func main() {
	ticks := 100
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			ticks = n
		}
	}
	if len(os.Args) > 2 && os.Args[2] == "stdin" {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
	}
	fmt.Println("ready")
	n := 0
	for i := 0; i < ticks; i++ {
		time.Sleep(10 * time.Millisecond)
		n = tick(n)
		fmt.Println("tick", n)
	}
	os.Exit(0)
}
