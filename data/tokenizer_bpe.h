// The BPE model of a byte-level tokenizer: vocabulary, merges by rank, and a per-word cache that
// concurrent encode() calls share.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tokenfocus::data {

class BpeModel {
 public:
  // `where` names the file in errors. Every merge's parts and result must be in the vocabulary.
  BpeModel(std::unordered_map<std::string, int64_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges,
           std::optional<int64_t> unk_id, const std::string& where);

  // Appends the ids of one pre-tokenised, byte-mapped word. Characters outside the vocabulary
  // become unk_id, or are dropped without one (as Hugging Face does).
  void encode_word(std::string_view mapped_word, std::vector<int64_t>& ids) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int64_t id) const;  // nullptr when no token has this id
  int64_t max_id() const { return static_cast<int64_t>(id_to_token_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int64_t a, int64_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_ = false;
  std::optional<int64_t> unk_id_;
};

// word bytes -> ids, sharded so that threads rarely wait on each other; bounded in size.
class WordCache {
 public:
  bool lookup(std::string_view word, std::vector<int64_t>& ids) const;  // appends on a hit
  void insert(std::string_view word, const int64_t* ids, size_t count) const;

  static constexpr size_t kMaxWordBytes = 256;  // longer words are not worth caching

 private:
  static constexpr size_t kShards = 32;
  static constexpr size_t kMaxEntriesPerShard = 4096;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int64_t>> map;
  };
  Shard& shard_of(std::string_view word) const;
  mutable std::unique_ptr<Shard[]> shards_ = std::make_unique<Shard[]>(kShards);
};

}  // namespace tokenfocus::data
