// SPDX-License-Identifier: MIT
// A user element type declared to hold F32 elements but twice their size: dtype_map::exact
// could not copy file bytes into it one to one.
// expect: an element type must have exactly the size of one element of its dtype
#include <safeshard/core/dtype_mapping.hpp>

#include <cstdint>

struct user_float {
#if SAFESHARD_NEGATIVE
    double bits;
#else
    std::uint32_t bits;
#endif
};
template <>
struct safeshard::dtype_traits<user_float> {
    static constexpr safeshard::dtype value = safeshard::dtype::F32;
};

int main() { return safeshard::dtype_map::exact::accepts<user_float>(safeshard::dtype::F32) ? 0 : 1; }
