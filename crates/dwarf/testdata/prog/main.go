package main

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"example.com/prog/sub"
)

type Inner struct {
	A int32
	B string
}

type Outer struct {
	Inner
	C []int
	D *Inner
}

type Pair[K comparable, V any] struct {
	Key K
	Val V
}

type key2 struct{ a, b int }

var someVar int64 = 42

var someString = "hello"

//go:noinline
func kinds(n int, s string) (result int) {
	vbool := n > 0
	vi8 := int8(n)
	vi16 := int16(n)
	vi32 := int32(n)
	vi64 := int64(n)
	vu := uint(n)
	vu8 := uint8(n)
	vu16 := uint16(n)
	vu32 := uint32(n)
	vu64 := uint64(n)
	vptr := uintptr(n)
	vf32 := float32(n)
	vf64 := float64(n)
	vc64 := complex64(complex(vf32, 1))
	vc128 := complex(vf64, 2)
	varr := [3]int{1, 2, n}
	vslice := []string{s, "x"}
	vouter := Outer{Inner: Inner{A: 1, B: s}, C: []int{n}}
	vouter.D = &vouter.Inner
	vmap := map[string]int{s: n}
	vmap2 := map[key2]string{{1, 2}: s}
	vchan := make(chan int, 4)
	vchan <- n
	var verr error = errors.New(s)
	var vany any = n
	vfunc := fmt.Sprint
	vclosure := func() int { return n + int(vi8) }
	vunsafe := unsafe.Pointer(&n)
	vpair := Pair[int, string]{Key: n, Val: s}
	fmt.Fprintln(os.Stderr, vbool, vi8, vi16, vi32, vi64, vu, vu8, vu16, vu32, vu64, vptr, vf32, vf64, vc64, vc128,
		varr, vslice, vouter.A, vmap, vmap2, len(vchan), verr, vany, vfunc != nil, vclosure(), vunsafe != nil, vpair)
	result = n + len(s)
	return result
}

//go:noinline
func sink(v int) int { return v + 3 }

func inlined(x int) int {
	y := x + 1
	return sink(sub.Twice(y))
}

//go:noinline
func caller(x int) int {
	a := inlined(x)

	// A comment line with no code.

	b := inlined(a)
	return a + b
}

func main() {
	r := kinds(len(os.Args), someString)
	r += caller(r)
	someVar += int64(r) + int64(sub.Counter)
	fmt.Println(r, someVar)
}
