// Command stepping has distinct lines for step/next/stepout tests: nested
// calls main -> a -> b -> c, a loop, a deferred function, a method call, an
// interface call, a tiny inlinable add() called from several places and a
// recovered panic.
package main

import "fmt"

// Greeter is called through an interface.
type Greeter interface {
	Greet(name string) string
}

// English implements Greeter.
type English struct{ Punct string }

// Greet returns a greeting.
func (e English) Greet(name string) string {
	msg := "hello, " + name // BP:greet
	return msg + e.Punct
}

// Acc is a method receiver.
type Acc struct{ Sum int }

// Inc adds n to the sum.
//
//go:noinline
func (a *Acc) Inc(n int) {
	a.Sum += n // BP:inc
}

// add is small enough to be inlined into every caller in optimized builds.
func add(a, b int) int {
	return a + b // BP:add
}

//go:noinline
func c(x int) int {
	y := x * 3 // BP:c
	return y + 1
}

//go:noinline
func b(x int) int {
	y := c(x + 1) // BP:b
	return y * 2
}

//go:noinline
func a(x int) int {
	y := b(x + 1)  // BP:a
	z := add(y, 1) // BP:a-add
	return z
}

//go:noinline
func loop(n int) int {
	sum := 0
	for i := 0; i < n; i++ { // BP:loop-head
		sum = add(sum, i) // BP:loop
	}
	return sum // BP:loop-end
}

//go:noinline
func withDefer() (out string) {
	defer func() {
		out += " deferred" // BP:deferred
	}()
	out = "body" // BP:defer-body
	return out
}

//go:noinline
func mayPanic(n int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recovered: %v", r) // BP:recover
		}
	}()
	if n > 2 {
		panic(fmt.Sprintf("n=%d too big", n)) // BP:panic
	}
	return nil
}

func main() {
	r := a(1) // BP:main-a
	s := loop(5)
	acc := &Acc{}
	acc.Inc(add(2, 3)) // BP:main-inc
	var g Greeter = English{Punct: "!"}
	msg := g.Greet("gopher") // BP:main-greet
	d := withDefer()
	err := mayPanic(3)
	fmt.Println(r, s, acc.Sum, msg, d, err) // BP:main-print
}
