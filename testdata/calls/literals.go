package main

import (
	"fmt"
	"sort"
	"strings"
)

// Functions taking map and keyed literals from the debugger.

//go:noinline
func mapSum(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return fmt.Sprintf("%d: %s", len(m), b.String())
}

//go:noinline
func pointNames(m map[Point][]string) string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%d/%d:%s", k.X, k.Y, strings.Join(v, "+")))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

//go:noinline
func mapLen(m map[int]float64) int { return len(m) }

// keepLiterals makes the linker keep the functions above.
var keepLiterals = []any{mapSum, pointNames, mapLen, busyCounts}

var literalsKept int

func init() { literalsKept = len(keepLiterals) }
