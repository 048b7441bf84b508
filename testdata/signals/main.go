// Command signals exercises the signals a debugger must pass through
// transparently: 100 SIGUSR1 handled by os/signal (sent one at a time and
// each waited for, so none coalesce), SIGURG from asynchronous preemption of
// busy goroutines (more runnable goroutines than GOMAXPROCS=4, plus forced
// GCs, for ~2 s), and SIGPROF from a CPU profile. It prints the counts.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Usr1Count is how many SIGUSR1 the program sends itself.
const Usr1Count = 100

var stop atomic.Bool

// spin loops without function calls, so only asynchronous (signal-based)
// preemption can stop it.
func spin(counter *atomic.Int64, wg *sync.WaitGroup) {
	defer wg.Done()
	n := int64(0)
	for !stop.Load() {
		n++
	}
	counter.Add(n)
}

func sendUsr1() int {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	defer signal.Stop(c)
	pid := os.Getpid()
	got := 0
	for i := 0; i < Usr1Count; i++ {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			fmt.Println("kill:", err)
			os.Exit(1)
		}
		select {
		case <-c:
			got++ // BP:usr1
		case <-time.After(10 * time.Second):
			fmt.Println("SIGUSR1 lost after", got)
			os.Exit(1)
		}
	}
	return got
}

func main() {
	runtime.GOMAXPROCS(4)
	usr1 := sendUsr1()

	profErr := pprof.StartCPUProfile(io.Discard)
	var counter atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go spin(&counter, &wg)
	}
	deadline := time.Now().Add(2 * time.Second)
	gcs := 0
	for time.Now().Before(deadline) {
		runtime.GC() // stopping the world preempts the spinners with SIGURG
		gcs++
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	pprof.StopCPUProfile()

	profile := "ok"
	if profErr != nil {
		profile = profErr.Error()
	}
	fmt.Printf("usr1=%d\n", usr1)
	fmt.Printf("preempt=%t\n", gcs > 0 && counter.Load() > 0)
	fmt.Printf("profile=%s\n", profile)
	fmt.Println("signals done") // BP:done
}
