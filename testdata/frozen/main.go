// Program for the frozen-world tests (issue 4): background goroutines bump
// their own counters in different ways, and the debugger checks that no
// counter moves while it runs injected calls with the world frozen.
// Helpers called through `call` are //go:noinline so optimized builds keep them.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Counters, each written by one goroutine only.
var (
	spins  [4]uint64 // tight loops without calls
	sleeps uint64    // timer sleeps
	allocs uint64    // allocation loop (keeps the GC busy)
	pings  uint64    // channel ping-pong
	pongs  uint64
	sysc   uint64 // system calls (getpid)
	writes uint64 // small file writes
	finals uint64 // finalizers run (by the runtime's finalizer goroutine)
	panics uint64 // deferred calls run by runtime.gopanic
	defers uint64 // deferred calls run by runtime.deferreturn
)

var (
	sink     []byte
	sinkMu   sync.Mutex
	held     sync.Mutex // held by holder until a call asks for it
	release  atomic.Int32
	feed     = make(chan int)
	wantFeed atomic.Int32
	started  sync.WaitGroup
	tmpDir   string
	probeHit int
)

//go:noinline
func spin(i int) {
	started.Done()
	if callingSpins {
		for {
			spinStep(i)
		}
	}
	for {
		spins[i]++
	}
}

// With GODEBUG=asyncpreemptoff=1 a loop without calls can never be
// preempted, not even by the runtime's own stop-the-world for GC, so the
// program would hang by itself: its spinners then make a call per turn.
var callingSpins = strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1")

// spinStep is not a leaf, so it keeps its stack check (the prologue where
// a goroutine asked to stop does so); small leaf functions have none.
//
//go:noinline
func spinStep(i int) { bumpSpin(i) }

//go:noinline
func bumpSpin(i int) { spins[i]++ }

func sleeper() {
	started.Done()
	for {
		time.Sleep(time.Millisecond)
		sleeps++
	}
}

func allocator() {
	started.Done()
	for {
		sink = make([]byte, 64<<10)
		allocs++
	}
}

func pinger(ping, pong chan int) {
	started.Done()
	for {
		ping <- 1
		<-pong
		pings++
	}
}

func ponger(ping, pong chan int) {
	started.Done()
	for {
		<-ping
		pongs++
		pong <- 1
	}
}

// syscaller loops on a raw system call (getpid). os.Getpid alone would make
// the loop almost never preemptible (it runs in assembly the runtime never
// preempts asynchronously, and inlined code without a prologue), for Go's
// own scheduler as much as for the debugger: bumpSys adds a prologue.
func syscaller() {
	started.Done()
	for {
		os.Getpid()
		bumpSys()
	}
}

// bumpSys is not a leaf, so it keeps its stack check (small leaf functions
// have none, and then nothing in the loop could stop it without
// asynchronous preemption).
//
//go:noinline
func bumpSys() { incSys() }

//go:noinline
func incSys() { sysc++ }

func writer() {
	started.Done()
	f, err := os.Create(filepath.Join(tmpDir, "w.txt"))
	if err != nil {
		panic(err)
	}
	for {
		f.WriteAt([]byte("x"), 0)
		writes++
	}
}

// panicker panics and recovers in a loop: the deferred function is called
// by the runtime (gopanic), which must not let it run while frozen.
func panicker() {
	started.Done()
	for {
		func() {
			defer recoverAndCount()
			panic("again")
		}()
	}
}

//go:noinline
func recoverAndCount() {
	recover()
	panics++
}

// deferrer runs deferred calls through runtime.deferreturn (defers in a
// loop are not open-coded).
func deferrer() {
	started.Done()
	for {
		deferInLoop()
	}
}

//go:noinline
func deferInLoop() {
	for i := 0; i < 4; i++ {
		defer bumpDefers()
	}
}

//go:noinline
func bumpDefers() { defers++ }

type tracked struct{ pad [8]uint64 }

// finalize is slow on purpose: the finalizer goroutine is mostly busy
// running user code.
func finalize(*tracked) {
	for j := 0; j < 5000; j++ {
		finals++
	}
}

// finalizing makes garbage with finalizers: the runtime's finalizer
// goroutine runs them (user code) after each collection, so it must be
// frozen like a user goroutine.
func finalizing() {
	started.Done()
	for {
		for i := 0; i < 64; i++ {
			t := &tracked{}
			runtime.SetFinalizer(t, finalize)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// holder takes `held` and gives it back only when lockHeld asks (so a
// frozen holder blocks lockHeld, a thawed one lets it finish); feeder sends
// on `feed` only when recvFeed asks.
func holder() {
	held.Lock()
	started.Done()
	for {
		for release.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		held.Unlock()
		// lockHeld clears the request once it has had the lock: taking
		// it back any earlier could win against the waiter and leave it
		// blocked for good (a slow wake-up of the call, under load).
		for release.Load() != 0 {
			time.Sleep(time.Millisecond)
		}
		held.Lock()
	}
}

func feeder() {
	started.Done()
	for {
		time.Sleep(time.Millisecond)
		if wantFeed.Load() == 1 {
			wantFeed.Store(0)
			feed <- 1
		}
	}
}

// ---- helpers called by the debugger ----------------------------------------

//go:noinline
func nop() int { return 7 }

// numG: goroutines a frozen call starts and that end must not change the
// runtime's count. The count is racy by design (runtime/proc.go gcount):
// a goroutine exiting meanwhile, such as the previous injected call's,
// which finishes exiting once scheduled again (debugCallWrap1), is briefly
// counted once more. The smallest of a few readings, with yields between.
//
//go:noinline
func numG() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		runtime.Gosched()
		if m := runtime.NumGoroutine(); m < n {
			n = m
		}
	}
	return n
}

//go:noinline
func format() string { return fmt.Sprintf("%d-%s", 42, "x") }

//go:noinline
func gcNow() int {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int(ms.NumGC & 0) + 1
}

//go:noinline
func nap() int {
	time.Sleep(50 * time.Millisecond)
	return 2
}

//go:noinline
func bigAlloc() int {
	b := make([]byte, 64<<20)
	b[len(b)-1] = 1
	sink = b[:16]
	return len(b) >> 20
}

//go:noinline
func lockTwice() int {
	sinkMu.Lock()
	sinkMu.Unlock()
	sinkMu.Lock()
	sinkMu.Unlock()
	return 2
}

//go:noinline
func writeFile() int {
	if err := os.WriteFile(filepath.Join(tmpDir, "call.txt"), []byte("hello"), 0o644); err != nil {
		return -1
	}
	return 5
}

// spawnAndWait starts a goroutine and waits for it: goroutines a call
// starts must run with the call.
//
//go:noinline
func spawnAndWait() int {
	done := make(chan int)
	go func() { done <- 11 }()
	return <-done
}

// Blocked cases: only frozen goroutines could unblock these.
//
//go:noinline
func recvFeed() int {
	wantFeed.Store(1)
	return <-feed // BP:recvFeed
}

//go:noinline
func lockHeld() int {
	release.Store(1)
	held.Lock()
	release.Store(0)
	held.Unlock()
	return 3
}

//go:noinline
func probe(n int) int {
	probeHit += n // BP:probe
	return probeHit
}

// walk is stepped through with the world frozen: the stepping goroutine
// allocates, sleeps, collects garbage and formats.
//
//go:noinline
func walk(n int) int {
	b := make([]byte, 1<<20) // BP:walk
	b[0] = byte(n)
	time.Sleep(2 * time.Millisecond)
	runtime.GC()
	sink = b[:1]
	s := fmt.Sprint(n)
	return len(s) + int(b[0])
}

// keep references the helpers so the linker keeps them for `call`.
var keep = []any{nop, numG, format, gcNow, nap, bigAlloc, lockTwice, writeFile, spawnAndWait, recvFeed, lockHeld}

func main() {
	if len(os.Args) > 99 {
		fmt.Println(keep...)
	}
	var err error
	tmpDir, err = os.MkdirTemp("", "stillgo-frozen")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmpDir)
	started.Add(len(spins) + 12)
	for i := range spins {
		go spin(i)
	}
	go sleeper()
	go allocator()
	ping, pong := make(chan int), make(chan int)
	go pinger(ping, pong)
	go ponger(ping, pong)
	go syscaller()
	go writer()
	go holder()
	go feeder()
	go finalizing()
	go panicker()
	go deferrer()
	go func() {
		started.Done()
		select {}
	}()
	started.Wait()
	// The first probe comes as soon as every goroutine runs (Wait readies
	// main as the next goroutine of its P): with GOMAXPROCS=1 and twelve
	// busy goroutines, a timer wake-up can take seconds to get scheduled.
	for i := 1; ; i++ {
		probe(i)
		walk(i)
		time.Sleep(100 * time.Millisecond)
	}
}
