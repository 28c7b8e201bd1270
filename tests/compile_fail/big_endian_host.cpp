// SPDX-License-Identifier: MIT
// A big-endian host: the library does not swap bytes, so it refuses to build, saying why.
// expect: it builds only for little-endian hosts
#if SAFESHARD_NEGATIVE
#  define SAFESHARD_LITTLE_ENDIAN_HOST 0
#endif
#include <safeshard/core/config.hpp>

int main() { return 0; }
