package main

import (
	"fmt"
	"os"

	"example.com/prog/shapes"
)

// add is small enough to be inlined into main in an optimized build.
func add(a, b int) int {
	return a*b + a - b // MARK:add
}

//go:noinline
func bigFrame(n int) int {
	var buf [256]byte
	for i := range buf {
		buf[i] = byte(i * n)
	}
	s := 0
	for _, b := range buf {
		s += int(b) // MARK:bigloop
	}
	return s
}

//go:noinline
func makeCounter() func() int {
	c := 0
	return func() int {
		c++ // MARK:closure
		return c
	}
}

func main() {
	r := &shapes.Rect{W: 2, H: 3}
	r.Scale(len(os.Args))
	next := makeCounter()
	next()
	total := add(len(os.Args), 7) // MARK:calladd
	total += bigFrame(total)
	total += shapes.Sum([]int{1, 2, 3})
	total += int(shapes.Sum([]float64{1.5, 2.5}))
	fmt.Println(total, r.Area(), next())
}
