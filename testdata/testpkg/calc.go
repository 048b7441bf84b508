// Package testpkg is a library with tests, for `stillgo test`.
package testpkg

// Add returns a + b.
func Add(a, b int) int {
	sum := a + b // BP:add
	return sum
}
