// SPDX-License-Identifier: MIT
// A dtype mapping asked about an element type that has no safetensors dtype.
// expect: this element type has no dtype: specialise safeshard::dtype_traits<T> for it
#include <safeshard/core/dtype_mapping.hpp>

#if SAFESHARD_NEGATIVE
using element = long double;
#else
using element = double;
#endif

int main() { return safeshard::dtype_map::exact::accepts<element>(safeshard::dtype::F64) ? 0 : 1; }
