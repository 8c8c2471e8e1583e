#include "losses/label_head.h"

#include <set>

#include "common/error.h"

namespace tokenfocus::losses {

LabelHead LabelHead::from_vectors(const std::vector<int64_t>& token_ids,
                                  const std::vector<double>& values,
                                  const std::vector<std::vector<int64_t>>& variants) {
  LabelHead head;
  head.token_ids = torch::tensor(token_ids, torch::kInt64);
  head.values = torch::tensor(values, torch::kFloat64);
  for (const auto& ids : variants) head.variants.push_back(torch::tensor(ids, torch::kInt64));
  return head;
}

bool LabelHead::has_variants() const {
  for (const auto& ids : variants)
    if (ids.defined() && ids.numel() > 0) return true;
  return false;
}

void LabelHead::validate(int64_t vocab_size, const std::string& what) const {
  if (size() == 0) throw_user_error("{}: a label set needs at least one label", what);
  if (token_ids.dim() != 1 || values.dim() != 1 || values.size(0) != size())
    throw_user_error("{}: {} label ids but {} values (one value per label)", what, size(),
                     values.defined() ? values.numel() : 0);
  if (!variants.empty() && static_cast<int64_t>(variants.size()) != size())
    throw_user_error("{}: {} labels but {} variant lists", what, size(), variants.size());
  std::set<int64_t> seen;
  auto check_id = [&](int64_t id, int64_t label) {
    if (id < 0 || id >= vocab_size)
      throw_user_error("{}: label {} has token id {}, outside the vocabulary of {} tokens", what,
                       label, id, vocab_size);
    if (!seen.insert(id).second)
      throw_user_error("{}: token id {} is used by two labels (label {})", what, id, label);
  };
  const auto ids = token_ids.to(torch::kCPU);
  for (int64_t i = 0; i < size(); ++i) check_id(ids[i].item<int64_t>(), i);
  for (size_t i = 0; i < variants.size(); ++i) {
    if (!variants[i].defined()) continue;
    const auto extra = variants[i].to(torch::kCPU);
    for (int64_t j = 0; j < extra.numel(); ++j)
      check_id(extra[j].item<int64_t>(), static_cast<int64_t>(i));
  }
}

LabelHead LabelHead::to(torch::Device device) const {
  LabelHead moved;
  moved.token_ids = token_ids.to(device);
  moved.values = values.to(device);
  for (const auto& ids : variants) moved.variants.push_back(ids.to(device));
  return moved;
}

}  // namespace tokenfocus::losses
