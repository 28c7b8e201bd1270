// SPDX-License-Identifier: MIT
// The safeshard command: inspect and verify safetensors files and checkpoints, extract and
// compare tensors, consolidate sharded checkpoints, built on the public API only. Each verb
// lives in tools/cli/<verb>.hpp; this file holds the usage text and the dispatch to them.

#include "cli/common.hpp"
#include "cli/consolidate.hpp"
#include "cli/convert.hpp"
#include "cli/diff.hpp"
#include "cli/extract.hpp"
#include "cli/inspect.hpp"
#include "cli/verify.hpp"

#include <cstdio>
#include <string_view>

namespace safeshard::cli {

const char usage_text[] =
    "usage: safeshard <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect FILE [--json] [--hash]   list the tensors and metadata of a safetensors file\n"
    "                                   --json: one JSON object {\"metadata\", \"tensors\"} sorted by name\n"
    "                                   --hash: add each tensor's FNV-1a 64 checksum\n"
    "  inspect DIR [--json]             list a checkpoint's files and tensors (dtype, global shape,\n"
    "                                   chunks); --json: {\"tensors\"} sorted by name, each with its\n"
    "                                   chunks' offsets, sizes and file\n"
    "  verify FILE|DIR...               check files against the format and directories as whole\n"
    "                                   checkpoints; exit 1 and one line per bad argument on\n"
    "                                   stderr when any is invalid\n"
    "  extract PATH NAME [--offsets A,B,..] [--lengths C,D,..] --out FILE\n"
    "                                   write tensor NAME of the checkpoint or file PATH (or the\n"
    "                                   box at --offsets of size --lengths) to FILE as raw\n"
    "                                   little-endian row-major bytes\n"
    "  diff A B                         compare two checkpoints or files of any layout: names,\n"
    "                                   dtypes, global shapes and bytes; exit 0 when the same,\n"
    "                                   1 with the first differences, 2 on errors\n"
    "  consolidate IN_DIR OUT_DIR [--mapping FILE | --max-shard-size SIZE] [--threads N]\n"
    "                                   merge the DCP-sharded checkpoint IN_DIR into full tensors\n"
    "                                   in OUT_DIR/model-I-of-N.safetensors plus\n"
    "                                   model.safetensors.index.json; one file by default\n"
    "                                   --mapping: a JSON object {name: file index >= 1}, or a\n"
    "                                   model.safetensors.index.json whose layout to follow\n"
    "                                   --max-shard-size: files of at most SIZE bytes, split as\n"
    "                                   Hugging Face does (5GB, 500MB, 10KB = powers of 10;\n"
    "                                   2GiB, 500MiB, 10KiB = powers of 2; or plain bytes)\n"
    "                                   --threads: threads in all, 2 by default\n"
    "                                   a progress bar on stderr when it is a terminal; exit 1\n"
    "                                   on errors (all checks run before anything is written)\n"
    "  convert IN OUT [--dtype F32|BF16|F16] [--quantize fp8-block[:BS] [--only REGEX]]\n"
    "          [--max-shard-size SIZE] [--threads N]\n"
    "                                   write the checkpoint IN (a file, a Hugging Face directory\n"
    "                                   with or without an index, a DCP-sharded directory) as a\n"
    "                                   Hugging Face checkpoint in OUT: model.safetensors, or\n"
    "                                   model-I-of-N files and the index under --max-shard-size\n"
    "                                   --dtype: every float tensor in that dtype (round to\n"
    "                                   nearest even); FP8 pairs (W, W_scale_inv) dequantized\n"
    "                                   under W's name, MXFP4 pairs (X_blocks, X_scales) as X;\n"
    "                                   scale tensors dropped; integers and bool copied\n"
    "                                   --quantize: FP8 E4M3 weights with an F32 W_scale_inv grid\n"
    "                                   (blocks of BS, 128 by default) for 2-D *.weight tensors\n"
    "                                   other than embeddings and norms, or those --only matches\n"
    "                                   --threads: threads in all, 2 by default; a progress bar\n"
    "                                   on a terminal; exit 1 on errors, OUT unchanged\n"
    "  help                             this text\n";

}  // namespace safeshard::cli

namespace cli = safeshard::cli;

int main(int argc, char** argv) {
    if (argc < 2) return cli::usage_error("no command given");
    std::string_view cmd = argv[1];
    if (cmd == "inspect") return cli::inspect(argc - 2, argv + 2);
    if (cmd == "verify") return cli::verify(argc - 2, argv + 2);
    if (cmd == "extract") return cli::extract(argc - 2, argv + 2);
    if (cmd == "diff") return cli::diff(argc - 2, argv + 2);
    if (cmd == "consolidate") return cli::consolidate(argc - 2, argv + 2);
    if (cmd == "convert") return cli::convert(argc - 2, argv + 2);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::fputs(cli::usage_text, stdout);
        return 0;
    }
    return cli::usage_error("unknown command");
}
