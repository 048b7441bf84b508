// Command panics dies of an unrecovered panic in a nested call, for the
// debugger's stop-on-panic breakpoint.
package main

import "fmt"

//go:noinline
func explode(n int) int {
	if n > 2 {
		panic(fmt.Sprintf("boom at %d", n)) // BP:panic
	}
	return n
}

func main() {
	total := 0
	for i := 0; i < 5; i++ {
		total += explode(i)
	}
	fmt.Println("unreachable", total)
}
