// condbp: a breakpoint inside this loop with the condition `i < 0` is hit
// 20,000 times and never stops; the benchmark times one `continue` that runs
// through all of them to the program's exit.
package main

import "os"

//go:noinline
func step(i, acc int) int { return acc ^ (i * 31) }

func main() {
	acc := 0
	for i := 0; i < 20000; i++ {
		acc = step(i, acc) // BENCH:cond
	}
	if acc == 42 {
		os.Exit(3)
	}
}
