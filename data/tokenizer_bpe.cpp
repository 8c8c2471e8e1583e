#include "data/tokenizer_bpe.h"

#include <functional>
#include <queue>

#include "common/error.h"

namespace tokenfocus::data {

BpeModel::BpeModel(std::unordered_map<std::string, int64_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   bool ignore_merges, std::optional<int64_t> unk_id, const std::string& where)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges), unk_id_(unk_id) {
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0 || id > INT32_MAX)
      throw_user_error("{}: model.vocab[\"{}\"] = {} is not a valid id", where, token, id);
    max_id = std::max(max_id, id);
  }
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  has_token_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id] : vocab_) {
    if (has_token_[id]) {
      throw_user_error("{}: model.vocab gives id {} to both \"{}\" and \"{}\"", where, id,
                       id_to_token_[id], token);
    }
    id_to_token_[id] = token;
    has_token_[id] = true;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto a = vocab_.find(left);
    const auto b = vocab_.find(right);
    const auto merged = vocab_.find(left + right);
    if (a == vocab_.end() || b == vocab_.end() || merged == vocab_.end()) {
      const std::string& missing =
          a == vocab_.end() ? left : (b == vocab_.end() ? right : left + right);
      throw_user_error(
          "{}: model.merges[{}] (\"{}\" \"{}\") uses \"{}\", which is not in model.vocab", where,
          rank, left, right, missing);
    }
    // The first occurrence of a pair wins, as in Hugging Face (later duplicates are ignored).
    merges_.emplace(pair_key(a->second, b->second),
                    Merge{static_cast<int32_t>(rank), static_cast<int32_t>(merged->second)});
  }
}

std::optional<int64_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(id_to_token_.size()) || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::encode_word(std::string_view word, std::vector<int64_t>& ids) const {
  if (ignore_merges_) {
    if (const auto id = token_to_id(word)) {
      ids.push_back(*id);
      return;
    }
  }
  // Symbols form a doubly linked list over the word's characters; a min-heap of candidate merges
  // ordered by (rank, position) applies the best merge first, leftmost on ties.
  struct Symbol {
    int64_t id;
    int32_t prev;
    int32_t next;
    uint32_t bytes;  // length in the mapped word; 0 once merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len = 1;
    while (pos + len < word.size() && (static_cast<unsigned char>(word[pos + len]) & 0xC0) == 0x80)
      ++len;
    const auto it = vocab_.find(std::string(word.substr(pos, len)));
    if (it != vocab_.end() || unk_id_) {
      const auto index = static_cast<int32_t>(symbols.size());
      const int64_t id = it != vocab_.end() ? it->second : *unk_id_;
      symbols.push_back(Symbol{id, index - 1, index + 1, static_cast<uint32_t>(len)});
    }
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    int64_t left_id;
    int64_t right_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (left < 0 || right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    queue.push(
        Candidate{it->second.rank, left, it->second.new_id, symbols[left].id, symbols[right].id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    // Skip stale candidates: a side was merged away or changed since the candidate was queued.
    if (left.bytes == 0 || left.id != top.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != top.right_id) continue;
    left.id = top.new_id;
    left.bytes += right.bytes;
    right.bytes = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

WordCache::Shard& WordCache::shard_of(std::string_view word) const {
  return shards_[std::hash<std::string_view>{}(word) % kShards];
}

bool WordCache::lookup(std::string_view word, std::vector<int64_t>& ids) const {
  Shard& shard = shard_of(word);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto it = shard.map.find(std::string(word));
  if (it == shard.map.end()) return false;
  ids.insert(ids.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, const int64_t* ids, size_t count) const {
  if (word.size() > kMaxWordBytes) return;
  Shard& shard = shard_of(word);
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.map.size() >= kMaxEntriesPerShard) return;
  shard.map.emplace(std::string(word), std::vector<int64_t>(ids, ids + count));
}

}  // namespace tokenfocus::data
