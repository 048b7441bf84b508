// Program for injected-call tests: every function here is called by the
// debugger through runtime.debugCallV2. Keep the functions non-inlinable
// (//go:noinline) so they exist in optimized builds too.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type Point struct {
	X, Y int
}

//go:noinline
func (p Point) Sum() int { return p.X + p.Y }

//go:noinline
func (p *Point) Scale(k int) { p.X *= k; p.Y *= k }

//go:noinline
func (p Point) String() string { return fmt.Sprintf("(%d,%d)", p.X, p.Y) }

type Named struct {
	Point
	Name string
}

type Shape interface {
	Area() float64
	Describe(prefix string) string
}

type Rect struct{ W, H float64 }

//go:noinline
func (r Rect) Area() float64 { return r.W * r.H }

//go:noinline
func (r Rect) Describe(prefix string) string { return fmt.Sprintf("%s rect %gx%g", prefix, r.W, r.H) }

type Circle struct{ R float64 }

//go:noinline
func (c *Circle) Area() float64 { return 3 * c.R * c.R }

//go:noinline
func (c *Circle) Describe(prefix string) string { return prefix + " circle" }

//go:noinline
func add(a, b int) int { return a + b }

//go:noinline
func mix(a int8, b uint16, c int32, d uint64, e float32, f float64, g bool) float64 {
	r := float64(a) + float64(b) + float64(c) + float64(d) + float64(e) + f
	if g {
		r = -r
	}
	return r
}

//go:noinline
func many(a, b, c, d, e, f, g, h, i, j, k, l int) int {
	return a + 2*b + 3*c + 4*d + 5*e + 6*f + 7*g + 8*h + 9*i + 10*j + 11*k + 12*l
}

//go:noinline
func divmod(a, b int) (q, r int) { return a / b, a % b }

//go:noinline
func bigResult(n int) (a [3]int, s string) { return [3]int{n, n * 2, n * 3}, "big" }

//go:noinline
func sumArr(a [3]int) int { return a[0] + a[1] + a[2] }

//go:noinline
func sumSlice(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

//go:noinline
func join(xs []string, sep string) string { return strings.Join(xs, sep) }

//go:noinline
func greet(name string) string { return "hello, " + name }

//go:noinline
func movePoint(p Point, dx, dy int) Point { return Point{p.X + dx, p.Y + dy} }

//go:noinline
func mayFail(n int) (int, error) {
	if n < 0 {
		return 0, &MyErr{Code: n}
	}
	if n == 0 {
		return 0, errors.New("zero")
	}
	return n * 10, nil
}

type MyErr struct{ Code int }

func (e *MyErr) Error() string { return fmt.Sprintf("myerr %d", e.Code) }

//go:noinline
func boom(msg string) int { panic(msg) }

//go:noinline
func lookup(m map[string]int, k string) int { return m[k] }

//go:noinline
func describe(s Shape) string { return s.Describe("it is a") }

//go:noinline
func counterValue() int { return counter }

//go:noinline
func kinds(a int8, b int16, c int32, d int64, e uint8, f uint16, g uint32, h uint64, i uint, j uintptr, k float32, l float64, m bool, n complex128) string {
	return fmt.Sprint(a, " ", b, " ", c, " ", d, " ", e, " ", f, " ", g, " ", h, " ", i, " ", j, " ", k, " ", l, " ", m, " ", n)
}

//go:noinline
func refs(p *Point, m map[string]int, ch chan int, f func(int, int) int, e error, x any) string {
	return fmt.Sprintf("%d %d %d %d %v %v", p.X, len(m), cap(ch), f(2, 3), e, x)
}

//go:noinline
func sum(xs ...int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

//go:noinline
func concat(sep string, parts ...string) string { return strings.Join(parts, sep) }

// Big does not fit in registers (arrays of more than one element go on
// the stack: abi-internal.md).
type Big struct {
	A [4]int
	F float64
}

//go:noinline
func bigArg(b Big, k int) float64 { return float64(b.A[0]+b.A[1]+b.A[2]+b.A[3]+k) + b.F }

//go:noinline
func makeBig(n int) (Big, int) { return Big{A: [4]int{n, n + 1, n + 2, n + 3}, F: 0.5}, n }

//go:noinline
func floats(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, q, r float64) float64 {
	return a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + q + r
}

//go:noinline
func sleepy(ms int) int {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms
}

//go:noinline
func exitNow(code int) { os.Exit(code) }

//go:noinline
func nameOf(n Named) string { return n.Name + n.String() }

//go:noinline
func index(xs []int, i int) int { return xs[i] }

// hugeArg's argument frame (72000 bytes) is more than the runtime's
// injection limit (debugCall65536).
//
//go:noinline
func hugeArg(a [9000]int) int { return a[0] }

// gcNow allocates and collects: the call needs other threads (the GC
// stops the world and runs its workers).
//
//go:noinline
func gcNow(mib int) int {
	var keepAlive [][]byte
	for i := 0; i < mib; i++ {
		keepAlive = append(keepAlive, make([]byte, 1<<20))
	}
	runtime.GC()
	return len(keepAlive)
}

var ticks int

// parked blocks forever on block: calls made while it is selected take
// their arguments from its frame and run on another goroutine.
//
//go:noinline
func parked(block chan int, ready chan bool, id int) {
	local := id * 3
	ready <- true
	<-block // BP:parked
	fmt.Println(local)
}

//go:noinline
func tick() {
	ticks++ // BP:tick
}

var counter int

// genResult keeps generics' result (not printed: the tests check main's output).
var genResult int

// keep makes the linker keep every function the tests call (the debugger
// calls them; nothing else in the program does).
var keep = []any{
	add, mix, many, divmod, bigResult, sumArr, sumSlice, join, greet, movePoint,
	mayFail, boom, lookup, describe, counterValue, strings.Repeat,
	kinds, refs, sum, concat, bigArg, makeBig, floats, sleepy, exitNow, gcNow, nameOf, index, hugeArg,
	Point.Sum, (*Point).Scale, Point.String, Rect.Area, Rect.Describe,
	(*Circle).Area, (*Circle).Describe, (*MyErr).Error,
}

func work(n int) int {
	p := Point{3, 4}
	pp := &Point{5, 6}
	named := Named{Point{7, 8}, "n"}
	var sh Shape = Rect{2, 3}
	var sh2 Shape = &Circle{2}
	xs := []int{1, 2, 3, 4}
	words := []string{"a", "b", "c"}
	m := map[string]int{"one": 1, "two": 2}
	arr := [3]int{10, 20, 30}
	offset := 100
	adder := func(x int) int { return x + offset + n }
	sumFn := p.Sum
	var fnVar func(int, int) int = add
	var nilFn func(int) int
	var nilSh Shape
	var err error = errors.New("e1")
	r := Rect{4, 5}
	cx := complex(1.5, -2)
	ch := make(chan int, 3)
	big := Big{A: [4]int{1, 2, 3, 4}, F: 0.25}
	counter++
	res := n + p.X + pp.Y + named.X + len(xs) + len(words) + m["one"] + arr[0] + adder(1) + sumFn() + fnVar(1, 2) // BP:work
	use(sh, sh2, nilFn, nilSh, err, r, cx, ch, big) // keeps them live, so a stack copy moves the pointers in them
	return res
}

//go:noinline
func outer(n int) int {
	local := n * 2
	return inner(local) + 1 // BP:outer
}

//go:noinline
func inner(v int) int {
	return v + 1 // BP:inner
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "busy" {
		startBusy()
	}
	block := make(chan int)
	ready := make(chan bool)
	go parked(block, ready, 7)
	<-ready
	go func() {
		for {
			tick()
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		for {
			syscall.Getppid() // a goroutine that is often in a system call
			time.Sleep(100 * time.Microsecond)
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the goroutines above park
	total := 0
	for i := 1; i <= 3; i++ {
		total += work(i)
	}
	total += outer(5)
	genResult = generics()
	statsResult = readStats()
	ng := runtime.NumGoroutine()
	fmt.Println("total", total, len(keep), counter, ng > 0) // BP:after
	os.Exit(0)
}

// use keeps its arguments live up to the call (a blank assignment does not:
// a dead interface's data word is not adjusted when the stack is copied, and
// then points into the old stack). Its arguments do not escape.
//
//go:noinline
func use(...any) {}
