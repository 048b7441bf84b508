// A third-party cgo dependency as users have them: github.com/mattn/go-sqlite3
// (SQLite compiled from C, externally linked). A worker goroutine runs a
// long query inside SQLite's C code in a loop, another counts in Go; main
// stops at probe while the worker is inside SQLite.
// (The test kit builds it with cgo on: see the line below.)
//
//stillgo:cgo
package main

import (
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

var (
	queries  atomic.Uint64 // long queries finished by the worker
	goSpins  atomic.Uint64 // the Go spinner
	probeHit int
	db       *sql.DB
)

// A query that keeps SQLite's virtual machine busy for a while.
const longQuery = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 2000000) SELECT sum(x) FROM c`

func worker() {
	for {
		var n int64
		if err := db.QueryRow(longQuery).Scan(&n); err != nil {
			fmt.Println("query:", err)
			os.Exit(1)
		}
		queries.Add(1)
	}
}

func spin() {
	for {
		goSpins.Add(1)
	}
}

// count runs a small query: called injected, it runs SQLite's C code.
func count() int {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM kv`).Scan(&n); err != nil {
		return -1
	}
	return n
}

//go:noinline
func probe(n int) int {
	probeHit += n // BP:probe
	return probeHit
}

func main() {
	var err error
	db, err = sql.Open("sqlite3", "file::memory:?cache=shared")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(`CREATE TABLE kv (k TEXT, v INT); INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3)`); err != nil {
		panic(err)
	}
	go worker()
	go spin()
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 3; i++ {
		probe(i)
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("done", count(), queries.Load() >= 0, goSpins.Load() > 0)
}
