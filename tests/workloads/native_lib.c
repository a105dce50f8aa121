/* A C library with frame pointers, called from Python through ctypes:
 * outer_c() calls inner_c(), which spins. Built by the --native test with
 * `gcc -O1 -fno-omit-frame-pointer -shared -fPIC`. */
#include <stdint.h>

__attribute__((noinline)) uint64_t inner_c(uint64_t n) {
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++) x += i;
    return x;
}

__attribute__((noinline)) uint64_t outer_c(uint64_t n) {
    return inner_c(n) + 1;
}
