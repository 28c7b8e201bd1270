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

static_assert(std::endian::native == std::endian::little,
              "safeshard copies safetensors' little-endian bytes as they are: it needs a little-endian host.");

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
