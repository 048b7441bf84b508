package sub

// Counter is a package-level variable of a sub-package.
var Counter int = 7

// Twice doubles its argument; small enough to be inlined.
func Twice(x int) int {
	return x * 2
}
