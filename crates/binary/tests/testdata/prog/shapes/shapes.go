// Package shapes is a local sub-package of the pclntab test program.
package shapes

// Rect has a value-receiver and a pointer-receiver method.
type Rect struct {
	W, H int
}

// Area uses a value receiver.
func (r Rect) Area() int {
	return r.W * r.H
}

// Scale uses a pointer receiver.
//
//go:noinline
func (r *Rect) Scale(k int) {
	r.W *= k // MARK:scale
	r.H *= k
}

// Sum is generic.
//
//go:noinline
func Sum[T int | float64](xs []T) T {
	var s T
	for _, x := range xs {
		s += x
	}
	return s
}
