/* Floor measurement for the benchmarks: what one ptrace stop costs on this
 * machine, independent of any debugger.
 *
 * A forked child executes `int3` in a loop.  The parent measures
 *   (1) "bare": PTRACE_CONT + waitpid per SIGTRAP stop (the minimum cost of
 *       one stop-and-resume round trip of one thread), and
 *   (2) "bp":   the full cycle a debugger performs to pass a software
 *       breakpoint whose condition is false: GETREGS, read 8 bytes of memory
 *       (process_vm_readv, standing for the condition's operand), SETREGS
 *       (rewind pc), restore the original byte (POKETEXT), PTRACE_SINGLESTEP
 *       + waitpid, re-insert int3 (POKETEXT), PTRACE_CONT + waitpid.
 *   (3) "stw":  (1) in a tracee with K more threads blocked in pause(), as
 *       a Go program's idle Ms are, with a stop-the-world per hit like a
 *       debugger that freezes all threads at every stop: on each trap,
 *       tgkill(SIGSTOP) + waitpid every other thread, then PTRACE_CONT all.
 * Usage: ptrace_roundtrip [iterations] [K]
 *   prints "bare_us=X bp_us=Y stw_us=Z threads=K+1 n=N"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t counter;

/* The child's loop.  `bp_site` labels the instruction the parent patches in
 * mode (2); in mode (1) the loop contains a literal int3. */
__attribute__((noinline)) static void child_bare(long n) {
    for (long i = 0; i < n + 16; i++) __asm__ volatile("int3");
}

__attribute__((noinline)) static void child_bp(long n) {
    for (long i = 0; i < n + 16; i++) {
        __asm__ volatile(".globl bp_site\nbp_site: nop\n");
        counter++;
    }
}
extern char bp_site[];

static void *idle_thread(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static long stw_threads = 4;
static volatile int threads_up;

__attribute__((noinline)) static void child_stw(long n) {
    pthread_t t;
    for (long i = 0; i < stw_threads; i++) pthread_create(&t, NULL, idle_thread, NULL);
    /* Give the threads time to block in pause() before the loop. */
    usleep(100000);
    child_bare(n);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static pid_t spawn(void (*fn)(long), long n) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(1); }
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        fn(n);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) { fprintf(stderr, "child did not stop\n"); exit(1); }
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL);
    return pid;
}

static void wait_trap(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) {
        fprintf(stderr, "unexpected wait status %#x\n", st);
        exit(1);
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;

    /* (1) bare stop-and-resume */
    pid_t pid = spawn(child_bare, n);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        ptrace(PTRACE_CONT, pid, 0, 0);
        wait_trap(pid);
    }
    double bare = (now() - t0) / n;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    /* (2) full conditional-breakpoint cycle */
    pid = spawn(child_bp, n);
    uintptr_t site = (uintptr_t)bp_site; /* same address in the forked child */
    errno = 0;
    long orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)site, 0);
    if (errno) { perror("peek"); return 1; }
    long patched = (orig & ~0xffL) | 0xcc;
    ptrace(PTRACE_POKETEXT, pid, (void *)site, (void *)patched);
    uint64_t val;
    t0 = now();
    for (long i = 0; i < n; i++) {
        ptrace(PTRACE_CONT, pid, 0, 0);
        wait_trap(pid);
        struct user_regs_struct r;
        ptrace(PTRACE_GETREGS, pid, 0, &r);
        struct iovec local = {&val, sizeof val}, remote = {(void *)&counter, sizeof val};
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof val) { perror("process_vm_readv"); return 1; }
        r.rip -= 1;
        ptrace(PTRACE_SETREGS, pid, 0, &r);
        ptrace(PTRACE_POKETEXT, pid, (void *)site, (void *)orig);
        ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
        wait_trap(pid);
        ptrace(PTRACE_POKETEXT, pid, (void *)site, (void *)patched);
    }
    double bp = (now() - t0) / n;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* (3) stop-the-world per hit, K+1 threads */
    if (argc > 2) stw_threads = atol(argv[2]);
    pid = spawn(child_stw, n);
    ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE);
    pid_t tids[64];
    int ntids = 0;
    ptrace(PTRACE_CONT, pid, 0, 0);
    /* Collect the new threads (each reported by a clone event and an initial
     * SIGSTOP) until the main thread reaches its first int3. */
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, __WALL);
        if (w < 0) { perror("waitpid"); return 1; }
        if (!WIFSTOPPED(st)) { fprintf(stderr, "thread %d ended early\n", w); return 1; }
        if (w != pid) {
            int known = 0;
            for (int i = 0; i < ntids; i++) known |= tids[i] == w;
            if (!known && ntids < 64) tids[ntids++] = w;
            ptrace(PTRACE_CONT, w, 0, 0);
            continue;
        }
        if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_CLONE << 8))) { ptrace(PTRACE_CONT, pid, 0, 0); continue; }
        if (WSTOPSIG(st) == SIGTRAP && ntids == stw_threads) break;
        ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st));
    }
    usleep(200000); /* let them block */
    t0 = now();
    for (long i = 0; i < n; i++) {
        for (int k = 0; k < ntids; k++) syscall(SYS_tgkill, pid, tids[k], SIGSTOP);
        for (int k = 0; k < ntids; k++) {
            int st;
            if (waitpid(tids[k], &st, __WALL) != tids[k] || !WIFSTOPPED(st)) { fprintf(stderr, "stop failed\n"); return 1; }
        }
        for (int k = 0; k < ntids; k++) ptrace(PTRACE_CONT, tids[k], 0, 0);
        ptrace(PTRACE_CONT, pid, 0, 0);
        wait_trap(pid);
    }
    double stw = (now() - t0) / n;
    kill(pid, SIGKILL);
    while (waitpid(-1, NULL, __WALL) > 0) {}
    printf("bare_us=%.2f bp_us=%.2f stw_us=%.2f threads=%d n=%ld\n", bare * 1e6, bp * 1e6, stw * 1e6, ntids + 1, n);
    return 0;
}
