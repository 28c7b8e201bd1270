// SPDX-License-Identifier: MIT
// A project that uses safeshard as a dependency: it writes a file, opens it, reads a tensor
// and a slice of it, and checks the values. Built by tests/consumer/run.sh as a Meson
// subproject, with pkg-config and with CMake's find_package, the three ways a project takes it.
#include <safeshard/safeshard.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer FILE.safetensors\n");
        return 2;
    }
    using namespace safeshard;
    std::vector<float> w(4 * 6);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.5f;
    const tensor_entry entries[] = {entry_of("w", make_view(w.data(), 4, 6))};
    if (status st = save_file(argv[1], entries); !st) {
        std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
        return 1;
    }
    file_reader reader;
    if (status st = file_reader::open(argv[1]).get(reader); !st) {
        std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
        return 1;
    }
    std::vector<float> back(4 * 6);
    std::vector<double> corner(2 * 3);
    status whole = reader.read("w", make_view(back.data(), 4, 6));
    status part = reader.read_slice<dtype_map::convert>("w", {2, 3}, {2, 3}, make_view(corner.data(), 2, 3));
    if (!whole || !part) {
        std::fprintf(stderr, "%s\n", (!whole ? whole : part).error().to_string().c_str());
        return 1;
    }
    if (back != w || corner[0] != 7.5 || corner[5] != 11.5) {
        std::fprintf(stderr, "consumer: wrong values\n");
        return 1;
    }
    release_thread_caches();
    std::printf("consumer: read %zu floats back from %s\n", back.size(), argv[1]);
    return 0;
}
