// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_SAFESHARD_HPP
#define SAFESHARD_SAFESHARD_HPP

// The umbrella header: every public header of safeshard, nothing else.

#include <safeshard/checkpoint/box_copy.hpp>
#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/checkpoint/read_schedule.hpp>
#include <safeshard/checkpoint/sharding.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/blocks.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/consolidate/consolidating_writer.hpp>
#include <safeshard/core/config.hpp>
#include <safeshard/core/dtype.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/core/errc.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/core/thread_caches.hpp>
// dist/: many processes (dist/mpi.hpp, which needs <mpi.h>, is included on its own).
#include <safeshard/dist/agree.hpp>
#include <safeshard/dist/communicator.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/messages.hpp>
#include <safeshard/dist/save.hpp>
#include <safeshard/dist/thread_communicator.hpp>
#include <safeshard/dist/wire.hpp>
#include <safeshard/file/checksum.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/region_copy.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>
#include <safeshard/format/checkpoint_names.hpp>
#include <safeshard/format/emit.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/format/header_parser.hpp>
#include <safeshard/format/json_text.hpp>
#include <safeshard/format/parse.hpp>
#include <safeshard/format/parse_entries.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/file_handle.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>
// quant/: FP8 block and MXFP4 dequantization, conversion and FP8 quantization.
#include <safeshard/quant/convert.hpp>
#include <safeshard/quant/kernels.hpp>
#include <safeshard/quant/policy.hpp>
#include <safeshard/quant/reader.hpp>

#endif
