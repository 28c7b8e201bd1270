// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_CONFIG_HPP
#define SAFESHARD_CORE_CONFIG_HPP

// Configuration shared by every header: exception detection, contract assertions and the
// little-endian host requirement (safetensors data is little-endian and we copy it as is).

#include <bit>
#include <cstdio>
#include <cstdlib>

#ifndef SAFESHARD_EXCEPTIONS
#  if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#    define SAFESHARD_EXCEPTIONS 1
#  else
#    define SAFESHARD_EXCEPTIONS 0
#  endif
#endif

// Whether the host stores numbers little-endian, as safetensors files do. Defined from
// std::endian; a build may define it to 0 to see what a big-endian host gets (the test of
// this message does).
#ifndef SAFESHARD_LITTLE_ENDIAN_HOST
#  define SAFESHARD_LITTLE_ENDIAN_HOST (std::endian::native == std::endian::little)
#endif
static_assert(SAFESHARD_LITTLE_ENDIAN_HOST,
              "safeshard copies safetensors' little-endian bytes as they are and does not swap bytes yet: "
              "it builds only for little-endian hosts (x86-64, AArch64, RISC-V, little-endian POWER).");

// Broken contracts (a caller's bug, never bad file data) stop the program in debug builds.
#ifndef SAFESHARD_ASSERT
#  ifdef NDEBUG
#    define SAFESHARD_ASSERT(cond) ((void)0)
#  else
#    define SAFESHARD_ASSERT(cond)                                                                  \
       ((cond) ? (void)0                                                                          \
               : (std::fprintf(stderr, "safeshard: contract violated: %s (%s:%d)\n", #cond, __FILE__, \
                               __LINE__),                                                         \
                  std::abort()))
#  endif
#endif

#endif
