// SPDX-License-Identifier: MIT
// A read whose dtype mapping policy does not model safeshard::dtype_mapping.
// expect: Mapping must model safeshard::dtype_mapping
#include <safeshard/file/reader.hpp>

struct not_a_mapping {};

int main() {
#if SAFESHARD_NEGATIVE
    using mapping = not_a_mapping;
#else
    using mapping = safeshard::dtype_map::convert;
#endif
    float out[4] = {};
    safeshard::memory_reader reader;
    return reader.read<mapping>("w", safeshard::make_view(out, 4)).ok() ? 0 : 1;
}
