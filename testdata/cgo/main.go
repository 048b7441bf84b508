// A program with cgo code, as most real programs have through their
// dependencies: a goroutine spinning inside C, a goroutine that calls C in a
// loop (returning to Go each time), a Go spinner, and a function that itself
// calls C. The counters say whether anything ran while the world was frozen.
package main

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <stdint.h>

volatile uint64_t c_spins;
volatile int c_stop;

// Spins in C until told to stop, counting.
static void __attribute__((noinline)) spin_in_c(void) {
	while (!c_stop) {
		c_spins++; // C:spin
	}
}

// A short call into C: what a goroutine returning from C does in a loop.
static uint64_t __attribute__((noinline)) short_c(uint64_t x) {
	return x * 3 + 1;
}

static uint64_t read_c_spins(void) { return c_spins; }

// A thread of C's own, never running Go code: counts until told to stop.
volatile uint64_t t_spins;

static void* __attribute__((noinline)) c_thread_main(void* arg) {
	while (!c_stop) {
		t_spins++; // C:thread
	}
	return 0;
}

static void start_c_thread(void) {
	pthread_t t;
	pthread_create(&t, 0, c_thread_main, 0);
}

static uint64_t read_t_spins(void) { return t_spins; }
*/
import "C"

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var (
	goSpins  atomic.Uint64 // the Go spinner
	cReturns atomic.Uint64 // calls into C that returned
	probeHit int
)

func spinC() { C.spin_in_c() }

func callCLoop() {
	for {
		if C.short_c(C.uint64_t(cReturns.Load())) == 0 {
			fmt.Println("impossible")
		}
		cReturns.Add(1)
	}
}

func spinGo() {
	for {
		goSpins.Add(1)
	}
}

// cSpins reads the C counter.
func cSpins() uint64 { return uint64(C.read_c_spins()) }

// tSpins reads the counter of C's own thread.
func tSpins() uint64 { return uint64(C.read_t_spins()) }

// viaC calls C from an injected call.
func viaC(x int) int { return int(C.short_c(C.uint64_t(x))) }

//go:noinline
func probe(n int) int {
	probeHit += n // BP:probe
	return probeHit
}

func main() {
	C.start_c_thread()
	go spinC()
	go callCLoop()
	go spinGo()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 3; i++ {
		probe(i)
		time.Sleep(10 * time.Millisecond)
	}
	C.c_stop = 1
	fmt.Println("done", cSpins() > 0, tSpins() > 0, cReturns.Load() > 0, goSpins.Load() > 0, viaC(1))
	os.Exit(0)
}
