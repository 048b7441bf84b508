package main

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// With the argument "busy", other goroutines spend their time in system
// calls and inside the runtime while the debugger makes calls: readers
// blocked in read(2) on a pipe, a goroutine calling getpid(2) in a tight
// loop, and one allocating garbage fast enough to keep the GC running.

var (
	busyReads  atomic.Int64
	busyPids   atomic.Int64
	busyAllocs atomic.Int64
	busySink   []byte
)

func startBusy() {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		panic(err)
	}
	for i := 0; i < 3; i++ {
		go func() {
			buf := make([]byte, 1)
			for {
				if n, _ := syscall.Read(fds[0], buf); n > 0 {
					busyReads.Add(1)
				}
			}
		}()
	}
	go func() {
		for {
			time.Sleep(5 * time.Millisecond)
			syscall.Write(fds[1], []byte{1})
		}
	}()
	go func() {
		for {
			syscall.Getpid()
			busyPids.Add(1)
		}
	}()
	go func() {
		for {
			busySink = make([]byte, 64<<10)
			busyAllocs.Add(1)
		}
	}()
}

//go:noinline
func busyCounts() (reads, pids, allocs int64) {
	return busyReads.Load(), busyPids.Load(), busyAllocs.Load()
}

var statsResult uint64

// readStats reads the memory statistics: runtime.readmemstats_m runs on
// the system stack (runtime/mstats.go ReadMemStats calls it through
// systemstack), only from here in this program.
//
//go:noinline
func readStats() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return uint64(ms.NumGC)
}
