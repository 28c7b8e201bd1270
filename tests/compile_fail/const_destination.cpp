// SPDX-License-Identifier: MIT
// Reading a tensor into a view of const elements: the destination is written.
// expect: read into a view of mutable elements: the destination is written.
#include <safeshard/file/reader.hpp>

int main() {
#if SAFESHARD_NEGATIVE
    const float out[4] = {};
#else
    float out[4] = {};
#endif
    safeshard::memory_reader reader;
    return reader.read("w", safeshard::make_view(out, 4)).ok() ? 0 : 1;
}
