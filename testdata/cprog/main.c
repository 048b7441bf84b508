/* A C program: stillgo must refuse it with a clear "not a Go program" error. */
#include <stdio.h>

int main(void) {
    printf("hello from C\n");
    return 0;
}
