// SPDX-License-Identifier: MIT
// A storage writer whose file layout policy does not model safeshard::checkpoint::file_layout:
// the compiler names the concept the argument fails.
// expect: file_layout
#include <safeshard/checkpoint/storage_writer.hpp>

struct not_a_layout {};

#if SAFESHARD_NEGATIVE
using writer = safeshard::checkpoint::basic_storage_writer<not_a_layout>;
#else
using writer = safeshard::checkpoint::basic_storage_writer<safeshard::checkpoint::single_file>;
#endif

int main() { return sizeof(writer) > 0 ? 0 : 1; }
