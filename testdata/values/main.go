// Command values holds a value of every Go kind as locals (in inspect),
// function arguments (in args, generic functions and methods) and package
// variables, for the value reader and formatter tests. All values are
// deterministic and kept alive through use() so optimized builds keep them.
package main

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"values/geo"
)

// Celsius is a named float type.
type Celsius float64

// Weekday is a named int type with constants.
type Weekday int

const (
	Sunday Weekday = iota
	Monday
	Tuesday
	Wednesday
	Thursday
	Friday
	Saturday
)

// Base is embedded by value in Employee.
type Base struct {
	ID   int
	Name string
}

// Meta is embedded by pointer in Employee.
type Meta struct {
	Tags  []string
	Score float32
}

// Address is a nested struct.
type Address struct {
	Street string
	City   string
	Loc    geo.Point
}

// Employee has an embedded struct, an embedded pointer and nested structs.
type Employee struct {
	Base
	*Meta
	Address Address
	Manager *Employee
	Salary  float64
	Active  bool
}

// Describe is used as a method value.
func (e *Employee) Describe() string {
	return fmt.Sprintf("%d:%s", e.ID, e.Name)
}

// Node is a linked-list node; the list in inspect is cyclic.
type Node struct {
	Val  int
	Next *Node
}

// NotFoundError is a custom error type.
type NotFoundError struct {
	Key  string
	Code int
}

func (e *NotFoundError) Error() string { return "not found: " + e.Key }

// Shape is a custom interface.
type Shape interface {
	Area() float64
}

// Square implements Shape by value.
type Square struct{ Side float64 }

// Area returns the square's area.
func (s Square) Area() float64 { return s.Side * s.Side }

// Pair is a generic struct.
type Pair[K comparable, V any] struct {
	Key K
	Val V
}

// Stack is a generic stack backed by a slice.
type Stack[T any] struct {
	items []T
}

// Push adds v on top.
func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v) // BP:push
}

// Pop removes and returns the top element.
func (s *Stack[T]) Pop() (T, bool) {
	var zero T
	if len(s.items) == 0 {
		return zero, false
	}
	v := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return v, true
}

// MapSlice is a generic function.
func MapSlice[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x)) // BP:generic
	}
	return out
}

// Package variables, one per kind.
var (
	gBool                 = true
	gInt                  = -42
	gInt8       int8      = -8
	gInt16      int16     = -1616
	gInt32      int32     = -323232
	gInt64      int64     = -6464646464
	gUint       uint      = 42
	gUint8      uint8     = 255
	gUint16     uint16    = 65535
	gUint32     uint32    = 4000000000
	gUint64     uint64    = 18000000000000000000
	gUintptr    uintptr   = 0xdeadbeef
	gFloat32    float32   = 3.5
	gFloat64              = 2.718281828
	gComplex64  complex64 = complex(1, 2)
	gComplex128           = complex(-1.5, 0.25)
	gString               = "package string"
	gEmptyStr             = ""
	gArray                = [4]int{1, 2, 3, 4}
	gSlice                = []string{"a", "b", "c"}
	gNilSlice   []int
	gMap        = map[string]int{"one": 1, "two": 2, "three": 3}
	gNilMap     map[string]int
	gStruct     = Employee{Base: Base{ID: 7, Name: "global"}, Salary: 1}
	gPtr        = &Base{ID: 8, Name: "pointed"}
	gNilPtr     *Base
	gChan               = make(chan int, 5)
	gErr                = errors.New("package error")
	gAny        any     = 99
	gShape      Shape   = Square{Side: 3}
	gFunc               = strings.ToUpper
	gPair               = Pair[string, int]{Key: "answer", Val: 42}
	gTemp       Celsius = 36.6
	gDay                = Wednesday
	gGeo                = geo.Unit
	gCounter    int
)

var sink []any

// use keeps its arguments alive and observable in optimized builds.
//
//go:noinline
func use(xs ...any) {
	sink = append(sink[:0], xs...)
}

// args receives one argument of each interesting kind.
//
//go:noinline
func args(b bool, i int, i8 int8, u64 uint64, f32 float32, c128 complex128, s string,
	arr [3]int, sl []int, m map[string]int, p *Base, e error, a any, sh Shape,
	fn func(int) int, ch chan int, pair Pair[string, int], t Celsius, d Weekday) int {
	n := i + int(i8) + len(s) + len(sl) + len(m) // BP:args
	use(b, u64, f32, c128, arr, p, e, a, sh, fn, ch, pair, t, d)
	return n
}

func inspect() {
	// Scalars.
	vBool := true
	vFalse := false
	vInt := -12345
	vInt8 := int8(-128)
	vInt16 := int16(-32768)
	vInt32 := int32(-2147483648)
	vInt64 := int64(-9223372036854775808)
	vUint := uint(12345)
	vUint8 := uint8(200)
	vUint16 := uint16(60000)
	vUint32 := uint32(4294967295)
	vUint64 := uint64(18446744073709551615)
	vUintptr := uintptr(0x1000)
	vFloat32 := float32(1.25)
	vFloat64 := -0.1
	vComplex64 := complex64(complex(3, -4))
	vComplex128 := complex(0.5, 1e10)
	// Strings.
	vEmpty := ""
	vASCII := "hello, world"
	vUnicode := "héllo, 世界 🌍"
	vLong := strings.Repeat("0123456789", 500)
	// Arrays and slices.
	vArray := [5]int{10, 20, 30, 40, 50}
	vArrayOfStr := [2]string{"x", "y"}
	vMatrix := [2][3]int{{1, 2, 3}, {4, 5, 6}}
	var vNilSlice []int
	vEmptySlice := []int{}
	vSlice := []int{1, 2, 3}
	vBigSlice := make([]int, 10000)
	for i := range vBigSlice {
		vBigSlice[i] = i * 2
	}
	vSubSlice := vBigSlice[100:105:110]
	vByteSlice := []byte("bytes")
	// Structs and pointers.
	meta := &Meta{Tags: []string{"go", "debug"}, Score: 9.5}
	boss := &Employee{Base: Base{ID: 1, Name: "Boss"}, Salary: 200000, Active: true}
	vStruct := Employee{
		Base:    Base{ID: 2, Name: "Alice"},
		Meta:    meta,
		Address: Address{Street: "1 Main St", City: "Springfield", Loc: geo.Point{X: 1.5, Y: -2.5}},
		Manager: boss,
		Salary:  100000.5,
		Active:  true,
	}
	vEmptyStruct := struct{}{}
	vAnon := struct {
		A int
		B string
	}{A: 1, B: "anon"}
	var vNilPtr *Employee
	vPtr := &vStruct
	vPtrPtr := &vPtr
	vIntPtr := &vInt
	// A cyclic list: n1 -> n2 -> n3 -> n1.
	n1 := &Node{Val: 1}
	n2 := &Node{Val: 2}
	n3 := &Node{Val: 3}
	n1.Next, n2.Next, n3.Next = n2, n3, n1
	vCycle := n1
	// Maps.
	var vNilMap map[string]int
	vEmptyMap := map[string]int{}
	vMap := map[string]int{"one": 1, "two": 2, "three": 3}
	vIntMap := map[int]string{1: "one", 2: "two", 3: "three"}
	vStructKeyMap := map[struct{ X, Y int }]string{{1, 2}: "a", {3, 4}: "b"}
	vSliceValMap := map[string][]int{"odd": {1, 3, 5}, "even": {2, 4}}
	vBigMap := make(map[int]int, 100000)
	for i := 0; i < 100000; i++ {
		vBigMap[i] = i * i
	}
	vPtrMap := map[string]*Base{"a": {ID: 1, Name: "a"}, "b": {ID: 2, Name: "b"}, "nil": nil}
	// Channels.
	var vNilChan chan int
	vUnbuffered := make(chan int)
	vBuffered := make(chan int, 5)
	vBuffered <- 1
	vBuffered <- 2
	vBuffered <- 3
	vSignal := make(chan struct{})
	vRecvOnly := (<-chan int)(vBuffered)
	// Interfaces.
	vErr := errors.New("plain error")
	var vCustomErr error = &NotFoundError{Key: "k1", Code: 404}
	var vNilErr error
	var vAnyInt any = 7
	var vAnyString any = "boxed"
	var vAnyStruct any = geo.Point{X: 3, Y: 4}
	var vAnyPtr any = boss
	var vNilAny any
	var vShape Shape = Square{Side: 2}
	var vShapePtr Shape = &geo.Circle{Radius: 1}
	var vShapeRect Shape = geo.Rect{Max: geo.Point{X: 2, Y: 3}, Label: "r"}
	// Functions.
	var vNilFunc func()
	vNamedFunc := strings.ToLower
	captured := 10
	vClosure := func(x int) int { return x + captured }
	vMethodValue := vStruct.Describe
	// unsafe.Pointer.
	vUnsafe := unsafe.Pointer(&vInt)
	// Generics.
	vPair := Pair[string, int]{Key: "k", Val: 1}
	vPairStruct := Pair[int, geo.Point]{Key: 2, Val: geo.Point{X: 1, Y: 1}}
	vStack := &Stack[string]{}
	vStack.Push("a")
	vStack.Push("b")
	vIntStack := Stack[int]{items: []int{1, 2, 3}}
	// Named types.
	vTemp := Celsius(-40)
	vDay := Friday
	vDays := []Weekday{Monday, Sunday}

	use(vBool, vFalse, vInt, vInt8, vInt16, vInt32, vInt64, vUint, vUint8, vUint16, vUint32, vUint64, vUintptr, // BP:inspect
		vFloat32, vFloat64, vComplex64, vComplex128, vEmpty, vASCII, vUnicode, vLong,
		vArray, vArrayOfStr, vMatrix, vNilSlice, vEmptySlice, vSlice, vBigSlice, vSubSlice, vByteSlice,
		vStruct, vEmptyStruct, vAnon, vNilPtr, vPtr, vPtrPtr, vIntPtr, vCycle,
		vNilMap, vEmptyMap, vMap, vIntMap, vStructKeyMap, vSliceValMap, vBigMap, vPtrMap,
		vNilChan, vUnbuffered, vBuffered, vSignal, vRecvOnly,
		vErr, vCustomErr, vNilErr, vAnyInt, vAnyString, vAnyStruct, vAnyPtr, vNilAny, vShape, vShapePtr, vShapeRect,
		vNilFunc, vNamedFunc, vClosure, vMethodValue, vUnsafe,
		vPair, vPairStruct, vStack, vIntStack, vTemp, vDay, vDays)

	n := args(vBool, vInt, vInt8, vUint64, vFloat32, vComplex128, vASCII,
		[3]int{7, 8, 9}, vSlice, vMap, &vStruct.Base, vCustomErr, vAnyStruct, vShape,
		vClosure, vBuffered, vPair, vTemp, vDay)
	lens := MapSlice([]string{"a", "bb", "ccc"}, func(s string) int { return len(s) })
	top, _ := vStack.Pop()
	fmt.Printf("args=%d lens=%v top=%s big=%d cycle=%d\n", n, lens, top, len(vBigMap), vCycle.Next.Next.Next.Val)
	runtime.KeepAlive(vUnsafe)
}

func main() {
	gChan <- 1
	gCounter++
	inspect()
	use(gBool, gInt, gInt8, gInt16, gInt32, gInt64, gUint, gUint8, gUint16, gUint32, gUint64, gUintptr,
		gFloat32, gFloat64, gComplex64, gComplex128, gString, gEmptyStr, gArray, gSlice, gNilSlice,
		gMap, gNilMap, gStruct, gPtr, gNilPtr, gChan, gErr, gAny, gShape, gFunc, gPair, gTemp, gDay, gGeo,
		geo.Origin, geo.Count, geo.Names, geo.Registry)
	fmt.Println("values done", gCounter, geo.Unit.Area()) // BP:done
}
