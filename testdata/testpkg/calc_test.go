package testpkg

import "testing"

func TestAdd(t *testing.T) {
	cases := []struct{ a, b, want int }{{1, 2, 3}, {-1, 1, 0}, {20, 22, 42}}
	for _, c := range cases {
		got := Add(c.a, c.b) // BP:test
		if got != c.want {
			t.Errorf("Add(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
