// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_PARSE_HPP
#define SAFESHARD_FORMAT_PARSE_HPP

// The safetensors header parser, the header to include: `check_frame`, `header_parser` and
// `parse_file_header`. Its pieces: format/header_parser.hpp (framing and the root object),
// format/parse_entries.hpp (tensor entries and `__metadata__`) and detail/json_scan.hpp (the
// byte scans beside simdjson). Only these parser headers and format/checkpoint_json_parse.hpp
// include simdjson.

#include <safeshard/format/header_parser.hpp>

#endif
