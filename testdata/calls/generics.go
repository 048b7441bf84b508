package main

import "fmt"

// Generic functions and methods, compiled with GC shape stenciling: the
// code is `Sum[go.shape.int]`, called with the dictionary `main..dict.Sum[int]`
// as a hidden argument.

type Number interface {
	~int | ~int64 | ~float64
}

type MyInt int

//go:noinline
func Sum[T Number](xs []T) T {
	var t T
	for _, x := range xs {
		t += x
	}
	return t
}

//go:noinline
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

//go:noinline
func Pick[T any](a, b T, first bool) T {
	if first {
		return a
	}
	return b
}

//go:noinline
func Zero[T any]() T {
	var z T
	return z
}

//go:noinline
func Count[T comparable](x T, xs ...T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

type Stack[T any] struct{ items []T }

//go:noinline
func (s *Stack[T]) Push(x T) { s.items = append(s.items, x) }

//go:noinline
func (s Stack[T]) Len() int { return len(s.items) }

//go:noinline
func (s *Stack[T]) Peek() T { return s.items[len(s.items)-1] }

type Pair[K comparable, V any] struct {
	Key K
	Val V
}

//go:noinline
func (p Pair[K, V]) Describe(sep string) string { return fmt.Sprint(p.Key, sep, p.Val) }

// Package-level, so the values stay alive and in the heap at the breakpoint
// in every Go version (locals that are dead there may already be freed).
var (
	ints     = []int{1, 2, 3}
	mine     = []MyInt{4, 5}
	fl       = []float64{0.5, 0.25}
	intStack = &Stack[int]{}
	strStack = &Stack[string]{}
	genPoint = &Point{1, 2}
)

//go:noinline
func itoa(i int) string { return fmt.Sprint("#", i) }

func generics() int {
	intStack.Push(7)
	intStack.Push(8)
	strStack.Push("top")
	vs := *intStack
	pair := Pair[string, int]{"k", 9}
	r := Sum(ints) + int(Sum(mine)) + int(Sum(fl)) + len(Map(ints, itoa)) + Count(2, 1, 2, 2) + Count("a", "b")
	r += Pick(genPoint, genPoint, true).X + Pick(Point{1, 1}, Point{2, 2}, false).X + len(Pick("a", "b", true)) + int(Zero[float64]())
	r += intStack.Len() + intStack.Peek() + len(strStack.Peek()) + strStack.Len() + vs.Len() + len(pair.Describe("="))
	genSink = []any{vs, pair} // BP:generics
	return r
}

var genSink []any
