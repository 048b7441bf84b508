// Command exits calls os.Exit(3) from inside a function in the middle of a
// loop, for "the program exits during next/step/continue" tests.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func check(i int) {
	if i == 3 {
		fmt.Println("exiting with 3")
		os.Exit(3) // BP:exit
	}
}

func main() {
	for i := 0; i < 10; i++ {
		fmt.Printf("iteration %d\n", i) // BP:loop
		check(i)                        // BP:check
	}
	fmt.Println("not reached")
}
