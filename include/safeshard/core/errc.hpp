// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_ERRC_HPP
#define SAFESHARD_CORE_ERRC_HPP

// The error codes: `errc` (ok == 0), a stable sentence for each, and their place in
// <system_error> (`std::error_code(errc::io_error)` works, in the "safeshard" category).

#include <cstdint>
#include <string>
#include <system_error>

namespace safeshard {

/// Every way an operation can fail. `ok` is zero, so `if (ec != errc::ok)` reads naturally.
/// Values are stable: tests and callers may compare them.
enum class errc : std::uint16_t {
    ok = 0,
    // framing
    file_too_small,          ///< fewer than 8 bytes: no header length
    header_length_zero,      ///< the header length N is 0
    header_too_large,        ///< N above the header size limit (100,000,000 by default)
    header_past_end,         ///< 8 + N is past the end of the file
    header_not_utf8,         ///< the header bytes are not valid UTF-8
    header_not_json,         ///< the header is not one well-formed JSON value
    header_not_object,       ///< the header JSON is not an object
    // entries
    metadata_not_map,        ///< `__metadata__` is not an object of string to string, nor null
    duplicate_metadata,      ///< `__metadata__` given twice
    duplicate_metadata_key,  ///< one key twice inside `__metadata__`
    duplicate_tensor,        ///< one tensor name twice
    tensor_not_object,       ///< a tensor entry is not an object
    unknown_dtype,           ///< not one of the 22 dtype names
    missing_field,           ///< a tensor entry lacks dtype, shape or data_offsets
    duplicate_field,         ///< a field given twice inside one tensor entry
    bad_shape,               ///< shape is not an array of non-negative integers
    bad_data_offsets,        ///< data_offsets is not two non-negative integers, begin <= end
    size_overflow,           ///< numel or numel × bits overflows 64 bits
    size_mismatch,           ///< end - begin differs from numel × bits / 8
    sub_byte_unaligned,      ///< a sub-byte dtype whose numel × bits is not a multiple of 8
    // tiling of the data section
    data_gap,                ///< bytes no tensor covers
    data_overlap,            ///< two tensors share bytes, or one sits inside another
    trailing_bytes,          ///< bytes after the last tensor
    data_past_end,           ///< a tensor ends past the end of the file
    // limits a caller can raise
    limit_exceeded,          ///< tensor count, rank, name length or metadata size over a limit
    // I/O
    io_error,                ///< an OS call failed; the detail names the call and errno text
    unexpected_eof,          ///< a read ended before the bytes it needed
    // API use with valid files
    tensor_not_found,        ///< no tensor of that name
    dtype_mismatch,          ///< the file's dtype does not meet the view's element type
    shape_mismatch,          ///< the destination's shape differs from the tensor's or the slice's
    out_of_bounds,           ///< a slice reaches outside the tensor
    invalid_argument,        ///< a caller-supplied value is unusable (name, shape, path)
    unsupported_conversion,  ///< no conversion between these dtypes
    // checkpoints (many files)
    bad_checkpoint_metadata,  ///< the index or DCP sharding info is malformed or disagrees with the files
    chunk_mismatch,           ///< chunks of one tensor disagree on dtype or rank
    chunk_overlap,            ///< two saved chunks of one tensor share elements (or stale shards)
    chunk_hole,               ///< the saved chunks leave part of a tensor uncovered
    path_outside_checkpoint,  ///< a file named by the checkpoint lies outside its directory
    file_not_found,           ///< a file the checkpoint names does not exist
};

/// A short, stable sentence for each code (no file or tensor: `error_info` adds those).
constexpr const char* error_message(errc ec) noexcept {
    switch (ec) {
        case errc::ok: return "no error";
        case errc::file_too_small: return "file is shorter than the 8-byte header length";
        case errc::header_length_zero: return "header length is zero";
        case errc::header_too_large: return "header length is over the limit";
        case errc::header_past_end: return "header length runs past the end of the file";
        case errc::header_not_utf8: return "header is not valid UTF-8";
        case errc::header_not_json: return "header is not valid JSON";
        case errc::header_not_object: return "header is not a JSON object";
        case errc::metadata_not_map: return "__metadata__ is not an object of strings";
        case errc::duplicate_metadata: return "__metadata__ is given twice";
        case errc::duplicate_metadata_key: return "duplicate key in __metadata__";
        case errc::duplicate_tensor: return "duplicate tensor name";
        case errc::tensor_not_object: return "tensor entry is not an object";
        case errc::unknown_dtype: return "unknown dtype";
        case errc::missing_field: return "tensor entry lacks a required field";
        case errc::duplicate_field: return "field given twice in a tensor entry";
        case errc::bad_shape: return "shape is not an array of non-negative integers";
        case errc::bad_data_offsets: return "data_offsets is not [begin, end] with begin <= end";
        case errc::size_overflow: return "tensor size overflows 64 bits";
        case errc::size_mismatch: return "data_offsets length differs from the size of dtype and shape";
        case errc::sub_byte_unaligned: return "sub-byte dtype does not fill whole bytes";
        case errc::data_gap: return "gap between tensors in the data section";
        case errc::data_overlap: return "tensors overlap in the data section";
        case errc::trailing_bytes: return "bytes after the last tensor";
        case errc::data_past_end: return "tensor data runs past the end of the file";
        case errc::limit_exceeded: return "over a configured limit";
        case errc::io_error: return "I/O error";
        case errc::unexpected_eof: return "unexpected end of file";
        case errc::tensor_not_found: return "no such tensor";
        case errc::dtype_mismatch: return "dtype does not match the element type";
        case errc::shape_mismatch: return "shape does not match";
        case errc::out_of_bounds: return "region is outside the tensor";
        case errc::invalid_argument: return "invalid argument";
        case errc::unsupported_conversion: return "no conversion between these dtypes";
        case errc::bad_checkpoint_metadata: return "checkpoint metadata is malformed or disagrees with the files";
        case errc::chunk_mismatch: return "chunks of one tensor disagree on dtype or rank";
        case errc::chunk_overlap: return "saved chunks of one tensor overlap";
        case errc::chunk_hole: return "saved chunks leave part of the tensor uncovered";
        case errc::path_outside_checkpoint: return "file lies outside the checkpoint directory";
        case errc::file_not_found: return "file named by the checkpoint does not exist";
    }
    return "unknown error";
}

/// The <system_error> category of `errc`: its name is "safeshard" and its messages are
/// `error_message`'s.
inline const std::error_category& error_category() noexcept {
    struct category final : std::error_category {
        const char* name() const noexcept override { return "safeshard"; }
        std::string message(int value) const override { return error_message(static_cast<errc>(value)); }
    };
    static const category instance;
    return instance;
}

/// `errc` as a `std::error_code` (found by argument-dependent lookup, so `std::error_code ec =
/// errc::io_error;` works).
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace safeshard

template <>
struct std::is_error_code_enum<safeshard::errc> : std::true_type {};

#endif
