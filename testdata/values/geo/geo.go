// Package geo holds exported types and package variables, to test reading
// values from a package other than main.
package geo

import "math"

// Point is a 2-D point.
type Point struct {
	X, Y float64
}

// Rect is an axis-aligned rectangle.
type Rect struct {
	Min, Max Point
	Label    string
}

// Area returns the rectangle's area.
func (r Rect) Area() float64 {
	return (r.Max.X - r.Min.X) * (r.Max.Y - r.Min.Y)
}

// Circle is a circle.
type Circle struct {
	Center Point
	Radius float64
}

// Area returns the circle's area.
func (c *Circle) Area() float64 {
	return math.Pi * c.Radius * c.Radius
}

// Origin is the origin.
var Origin = Point{X: 0, Y: 0}

// Unit is the unit square.
var Unit = Rect{Min: Point{0, 0}, Max: Point{1, 1}, Label: "unit"}

// Count is a package-level counter.
var Count = 42

// Names is a package-level slice.
var Names = []string{"alpha", "beta", "gamma"}

// Registry is a package-level map.
var Registry = map[string]Point{"home": {1, 2}, "work": {3, 4}}
