// SPDX-License-Identifier: MIT
// Many ranks, as threads of this process (the same scenarios run under mpirun in
// tests/dist/): the messages ranks exchange and their refusal when malformed; the agreement;
// distributed saves on 1, 2 and 4 ranks whose consolidated output is the same bytes whatever the
// number of ranks, loaded again on 3; and a failure on one rank failing every rank, with one
// message naming it, nothing published and no rank left waiting.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/dist/agree.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/messages.hpp>
#include <safeshard/dist/save.hpp>
#include <safeshard/dist/thread_communicator.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../support/dist_scenarios.hpp"
#include "../support/files.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::test;

// Runs `fn(comm)` on `world` ranks as threads; returns each rank's status.
template <class Fn>
std::vector<status> on_ranks(std::uint32_t world, Fn&& fn) {
    std::vector<status> out(world);
    dist::thread_group group(world);
    group.run([&](const dist::thread_communicator& comm) { out[comm.rank()] = fn(comm); });
    return out;
}

// Every file under `dir` (recursively) with its bytes.
std::map<std::string, std::vector<std::byte>> snapshot(const std::string& dir) {
    std::map<std::string, std::vector<std::byte>> out;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file()) out[it->path().string()] = read_file(it->path().string());
    return out;
}

// Every rank failed with the same message, which names `rank` of `world`.
void check_all_failed(const std::vector<status>& st, std::uint32_t rank, std::uint32_t world) {
    const std::string where = "rank " + std::to_string(rank) + " of " + std::to_string(world);
    for (std::uint32_t r = 0; r < st.size(); ++r) {
        CAPTURE(r);
        REQUIRE_FALSE(st[r].ok());
        CHECK(st[r].error().to_string() == st[0].error().to_string());
        CHECK(st[r].error().to_string().find(where) != std::string::npos);
    }
    MESSAGE(st[0].error().to_string());
}

}  // namespace

TEST_SUITE("dist") {

TEST_CASE("messages: round trips, and every truncation or wrong header is refused naming the sender") {
    auto rank = model_state(1, 3);
    const auto state_msg = dist::encode_rank_state(rank.state);
    auto back = dist::decode_rank_state(state_msg, 1);
    REQUIRE(back.has_value());
    REQUIRE(back->size() == rank.state.size());
    for (std::size_t i = 0; i < back->size(); ++i) {
        CHECK((*back)[i].fqn == rank.state[i].fqn);
        CHECK((*back)[i].dtype == rank.state[i].dtype);
        CHECK((*back)[i].offsets == rank.state[i].offsets);
        CHECK((*back)[i].sizes == rank.state[i].sizes);
        CHECK((*back)[i].global_shape == rank.state[i].global_shape);
    }
    const status st = error_info(errc::io_error).in_file("/d/f.safetensors").at_tensor("w").at_offset(9).with_detail("pwrite: No space");
    CHECK(dist::decode_status(dist::encode_status(st), 2).to_string() == st.error().to_string());

    // Cut at every length, and with a wrong magic, version or kind: an error naming the sender.
    for (std::size_t n = 0; n < state_msg.size(); ++n) {
        auto cut = dist::decode_rank_state(std::span(state_msg).first(n), 7);
        REQUIRE_FALSE(cut.has_value());
        CHECK(cut.code() == errc::bad_checkpoint_metadata);
        CHECK(cut.error().detail().find("message from rank 7") != std::string_view::npos);
    }
    auto longer = state_msg;
    longer.push_back(std::byte{0});
    CHECK(dist::decode_rank_state(longer, 0).error().detail().find("bytes after the last field") != std::string_view::npos);
    for (std::size_t at : {std::size_t{0}, std::size_t{4}, std::size_t{6}}) {
        auto bad = state_msg;
        bad[at] = static_cast<std::byte>(static_cast<unsigned>(bad[at]) ^ 0x5a);
        CHECK(dist::decode_rank_state(bad, 0).code() == errc::bad_checkpoint_metadata);
    }
    CHECK(dist::decode_plan_part(state_msg, 0, 0).error().detail().find("another kind") != std::string_view::npos);
    // A count that the message cannot hold is refused before anything is allocated for it.
    dist::wire_writer w(dist::message_kind::write_results);
    w.u64(std::uint64_t{1} << 60);
    CHECK(dist::decode_write_results(std::move(w).take(), 3).code() == errc::bad_checkpoint_metadata);
}

TEST_CASE("agreement: ok when every rank is; otherwise the lowest failing rank's error on every rank") {
    auto all_ok = on_ranks(4, [](const auto& comm) { return dist::agree(comm, status{}); });
    for (const auto& s : all_ok) CHECK(s.ok());
    auto two_fail = on_ranks(4, [](const auto& comm) -> status {
        status mine;
        if (comm.rank() == 2) mine = error_info(errc::io_error).in_file("/x/shard-3.safetensors").with_detail("write: No space left");
        if (comm.rank() == 3) mine = errc::chunk_hole;
        return dist::agree(comm, mine);
    });
    check_all_failed(two_fail, 2, 4);
    CHECK(two_fail[0].code() == errc::io_error);
    CHECK(two_fail[0].error().file() == "/x/shard-3.safetensors");
    CHECK(two_fail[0].error().detail() == "rank 2 of 4 (and 1 more): write: No space left");
}

TEST_CASE("save on 1, 2 and 4 ranks: the consolidated checkpoint is the same bytes; loaded again on 3 ranks") {
    temp_dir dir("dist");
    std::map<std::string, std::vector<std::byte>> first;
    for (std::uint32_t world : {1u, 2u, 4u}) {
        CAPTURE(world);
        const std::string out = dir / ("w" + std::to_string(world));
        for (const auto& st : on_ranks(world, [&](const auto& comm) { return save_model(comm, out); }))
            REQUIRE_MESSAGE(st.ok(), st.error().to_string());
        std::map<std::string, std::vector<std::byte>> files;
        for (auto name : {"model-00001-of-00001.safetensors", "model.safetensors.index.json"}) files[name] = read_file(out + "/" + name);
        if (world == 1) first = files;
        else CHECK(files == first);
        CHECK(list_dir(out + "/sharded").size() == world);  // one shard file per rank
        for (const std::string& path : {out + "/sharded", out})
            for (const auto& st : on_ranks(3, [&](const auto& comm) { return load_and_check(comm, path); }))
                CHECK_MESSAGE(st.ok(), st.error().to_string());
    }
}

TEST_CASE("a full-tensor save over 3 ranks: each rank its whole tensors, the replicated ones written once, one index") {
    temp_dir dir("hf");
    const auto model = test_model();
    std::vector<std::vector<std::byte>> whole;
    for (std::size_t k = 0; k < model.size(); ++k) {
        std::vector<std::uint64_t> off, len;
        box_of(model[k], split::replicated, 0, 1, off, len);
        whole.push_back(box_bytes(model[k], k, off, len));
    }
    checkpoint::hf_storage_writer<checkpoint::size_capped> writer(dir.path, checkpoint::size_capped{4000});
    auto st = on_ranks(3, [&](const auto& comm) -> status {
        checkpoint::rank_state mine;  // tensor k on rank k % 3, the replicated ones on every rank
        for (std::size_t k = 0; k < model.size(); ++k)
            if (model[k].how == split::replicated || k % 3 == comm.rank())
                mine.push_back(checkpoint::save_chunk{model[k].name, model[k].type, model[k].shape,
                                                      std::vector<std::uint64_t>(model[k].shape.size(), 0), model[k].shape, whole[k]});
        auto r = dist::save(comm, writer, mine);
        return r ? status{} : status(r.error());
    });
    for (const auto& s : st) REQUIRE_MESSAGE(s.ok(), s.error().to_string());
    auto reader = checkpoint::storage_reader::open(dir.path);
    REQUIRE(reader.has_value());
    CHECK(reader->metadata().has_index());
    for (std::size_t k = 0; k < model.size(); ++k) {
        std::vector<std::byte> got(whole[k].size());
        REQUIRE(reader->read_raw(model[k].name, {}, {}, got).ok());
        CHECK(got == whole[k]);
    }
}

TEST_CASE("a failure on one rank fails every rank with one message naming it, publishes nothing, hangs none") {
    // A checkpoint of model version 1; each failing save is of version 2, and must change none of it.
    temp_dir dir("fail");
    const std::string good = dir / "ckpt";
    for (const auto& st : on_ranks(2, [&](const auto& comm) { return save_model(comm, good); })) REQUIRE(st.ok());
    const auto before = snapshot(good);
    auto unchanged = [&] {
        CHECK(snapshot(good) == before);
        std::size_t temps = 0;
        for (const auto& [path, bytes] : snapshot(good)) temps += io::is_temp_file_name(path.substr(path.rfind('/') + 1)) ? 1 : 0;
        CHECK(temps == 0);
    };

    SUBCASE("rank 1's directory is unusable") {
        write_file(dir / "not-a-dir", pattern(8));
        auto st = on_ranks(4, [&](const auto& comm) -> status {
            checkpoint::dcp_storage_writer<> writer(comm.rank() == 1 ? dir / "not-a-dir/ckpt" : good + "/sharded");
            auto mine = model_state(comm.rank(), comm.size(), 2);
            auto r = dist::save(comm, writer, mine.state);
            return r ? status{} : status(r.error());
        });
        check_all_failed(st, 1, 4);
        CHECK(st[0].code() == errc::io_error);
        unchanged();
    }
    SUBCASE("rank 1's state disagrees with the plan (a chunk's bytes do not match its size)") {
        auto st = on_ranks(3, [&](const auto& comm) -> status {
            auto mine = model_state(comm.rank(), comm.size(), 2);
            if (comm.rank() == 1) mine.state[0].data = mine.state[0].data.first(mine.state[0].data.size() - 2);
            checkpoint::consolidating_storage_writer<> writer(good);
            auto r = dist::save(comm, writer, mine.state);
            return r ? status{} : status(r.error());
        });
        check_all_failed(st, 1, 3);
        CHECK(st[0].code() == errc::size_mismatch);
        CHECK(st[0].error().tensor() == "model.embed_tokens.weight");
        unchanged();
    }
    SUBCASE("the coordinator's plan fails (a name missing from the mapping)") {
        auto st = on_ranks(2, [&](const auto& comm) -> status {
            auto mine = model_state(comm.rank(), comm.size(), 2);
            checkpoint::consolidating_storage_writer<checkpoint::mapped_files> writer(good, checkpoint::mapped_files({{"model.norm.weight", 1}}));
            auto r = dist::save(comm, writer, mine.state);
            return r ? status{} : status(r.error());
        });
        check_all_failed(st, 0, 2);
        unchanged();
    }
    SUBCASE("a load where rank 2 cannot find the checkpoint") {
        auto st = on_ranks(3, [&](const auto& comm) -> status {
            return load_and_check(comm, comm.rank() == 2 ? dir / "elsewhere" : good + "/sharded");
        });
        check_all_failed(st, 2, 3);
        CHECK(st[0].code() == errc::file_not_found);
        CHECK(st[0].error().file().ends_with("elsewhere"));
    }
    SUBCASE("a load of a checkpoint that does not tile: rank 0's verdict reaches every rank") {
        const auto stale = good + "/sharded/shard-00009-model-00001-of-00001.safetensors";
        auto mine = model_state(0, 1);  // whole tensors: they overlap the saved chunks
        checkpoint::dcp_storage_writer<> w(dir / "other");
        REQUIRE(w.save(std::span(&mine.state, 1)).has_value());
        std::filesystem::copy_file(dir / "other/shard-00001-model-00001-of-00001.safetensors", stale);
        auto st = on_ranks(3, [&](const auto& comm) { return load_and_check(comm, good + "/sharded"); });
        check_all_failed(st, 0, 3);
        CHECK(st[0].code() == errc::chunk_overlap);
        std::filesystem::remove(stale);
    }
}

}  // TEST_SUITE
