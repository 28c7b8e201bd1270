// SPDX-License-Identifier: MIT
// A tensor view whose second template argument is not a safeshard::extents.
// expect: must be a specialization of safeshard::extents
#include <safeshard/core/tensor_view.hpp>

#include <cstdint>

#if SAFESHARD_NEGATIVE
using view = safeshard::tensor_view<float, int>;
#else
using view = safeshard::tensor_view<float, safeshard::dextents<std::uint32_t, 2>>;
#endif

int main() { return view::rank() == 2 ? 0 : 1; }
