// signals: sends itself SIGUSR1 50 times and counts what its os/signal
// handler receives; exits 0 only if all 50 arrived.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	n := 0
	for i := 0; i < 50; i++ {
		syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		select {
		case <-c:
			n++
		case <-time.After(5 * time.Second):
		}
	}
	fmt.Println("received", n)
	if n != 50 {
		os.Exit(1)
	}
	os.Exit(0)
}
