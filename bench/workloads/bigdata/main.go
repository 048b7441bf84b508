// bigdata: a 1,000,000-entry map and slice, for paging through big values.
package main

//go:noinline
func ready(n int) int { return n }

func main() {
	const n = 1000000
	s := make([]int, n)
	m := make(map[int]int, n)
	for i := 0; i < n; i++ {
		s[i] = i * 3
		m[i] = i * 7
	}
	ready(len(s) + len(m)) // BENCH:ready
	println(len(s), len(m))
}
