// The torch-free parts of `serve`: request bodies (every bad field named), image paths that must
// stay below the root, base64 against RFC 4648's vectors and OpenSSL-independent round trips,
// FocusDiff's pair advantages, and the Prometheus text.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "launch/serve/image_input.h"
#include "launch/serve/pair_rewards.h"
#include "launch/serve/request_error.h"
#include "launch/serve/score_request.h"
#include "launch/serve/serve_metrics.h"

namespace tokenfocus::launch::serve {
namespace {

namespace fs = std::filesystem;

// The RequestError `body` gets; fails when it parses.
RequestError score_error(const std::string& body, size_t max_items = 10) {
  try {
    parse_score_request(body, max_items);
  } catch (const RequestError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return RequestError(0, "", "");
}

TEST(ScoreRequest, ParsesItemsInOrder) {
  const auto items = parse_score_request(
      R"J({"items": [{"image": {"path": "a/b.png"}, "prompt": "a red car",
                      "elements": ["red (color)", "car (object)"]},
                     {"image": {"base64": "iVBORw0KGgo="}, "prompt": "p"}]})J",
      10);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].image.path, "a/b.png");
  EXPECT_EQ(items[0].image.where, "items[0].image");
  EXPECT_EQ(items[0].elements, (std::vector<std::string>{"red (color)", "car (object)"}));
  EXPECT_EQ(items[1].image.base64, "iVBORw0KGgo=");
  EXPECT_TRUE(items[1].elements.empty());
}

TEST(ScoreRequest, EveryBadFieldIsNamed) {
  struct Case {
    std::string body, where, text;
    int status;
  };
  const std::vector<Case> cases = {
      {"{\"items\": [", "", "not JSON", 400},
      {"[]", "body", "JSON object", 400},
      {R"({"itemz": []})", "body", "unknown field 'itemz'", 400},
      {R"({"items": []})", "items", "at least one", 400},
      {R"({"items": {}})", "body.items", "JSON array", 400},
      {R"({"items": [{"image": {"path": "x"}, "prompt": "p", "colour": 1}]})", "items[0]",
       "unknown field 'colour'", 400},
      {R"({"items": [{"image": {"path": "x"}, "prompt": 3}]})", "items[0].prompt", "string", 400},
      {R"({"items": [{"image": {"path": "x"}, "prompt": "  "}]})", "items[0].prompt", "empty", 400},
      {R"({"items": [{"image": {"path": "x"}}]})", "items[0]", "needs 'prompt'", 400},
      {R"({"items": [{"prompt": "p"}]})", "items[0]", "needs 'image'", 400},
      {R"({"items": [{"image": {"path": "x", "base64": "AA=="}, "prompt": "p"}]})",
       "items[0].image", "exactly one", 400},
      {R"({"items": [{"image": {"url": "http://x"}, "prompt": "p"}]})", "items[0].image",
       "unknown field 'url'", 400},
      {R"({"items": [{"image": {"path": "x"}, "prompt": "p", "elements": ["a", 2]}]})",
       "items[0].elements[1]", "string", 400},
      {R"({"items": [1, 2, 3]})", "items[0]", "JSON object", 400},
  };
  for (const auto& c : cases) {
    const RequestError e = score_error(c.body);
    EXPECT_EQ(e.status(), c.status) << c.body;
    EXPECT_EQ(e.where(), c.where) << c.body;
    EXPECT_NE(e.message().find(c.text), std::string::npos) << c.body << " -> " << e.message();
  }
  const RequestError long_prompt = score_error(
      R"({"items": [{"image": {"path": "x"}, "prompt": ")" + std::string(5000, 'a') + "\"}]}");
  EXPECT_EQ(long_prompt.where(), "items[0].prompt");
  EXPECT_NE(long_prompt.message().find("more than the 4096"), std::string::npos);
  std::string elements;
  for (int e = 0; e < 65; ++e) elements += std::string(e ? "," : "") + "\"e\"";
  EXPECT_EQ(score_error(R"({"items": [{"image": {"path": "x"}, "prompt": "p", "elements": [)" +
                        elements + "]}]}")
                .where(),
            "items[0].elements");
  std::string many = R"({"items": [)";
  for (int i = 0; i < 4; ++i)
    many += std::string(i ? "," : "") + R"({"image": {"path": "x"}, "prompt": "p"})";
  EXPECT_EQ(score_error(many + "]}", 3).status(), 413);
}

TEST(PairsRequest, GroupsKeepPromptMajorOrderAndNeedTwoImages) {
  const auto groups = parse_pairs_request(
      R"J({"groups": [{"prompts": ["a cat", "a dog"],
                       "images": [[{"path": "0.png"}, {"path": "1.png"}], [{"path": "2.png"}]],
                       "elements": [["cat (animal)"], []]}]})J",
      10);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].images_per_prompt, (std::vector<size_t>{2, 1}));
  ASSERT_EQ(groups[0].items.size(), 3u);
  EXPECT_EQ(groups[0].items[1].prompt, "a cat");
  EXPECT_EQ(groups[0].items[2].prompt, "a dog");
  EXPECT_EQ(groups[0].items[2].image.where, "groups[0].images[1][0]");
  EXPECT_EQ(groups[0].items[0].elements, (std::vector<std::string>{"cat (animal)"}));
  try {
    parse_pairs_request(R"({"groups": [{"prompts": ["a"], "images": [[{"path": "0.png"}]]}]})", 10);
    FAIL() << "one image in a group was accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.where(), "groups[0].images");
  }
  try {
    parse_pairs_request(R"({"groups": [{"prompts": ["a", "b"], "images": [[{"path": "0.png"}]]}]})",
                        10);
    FAIL() << "images for one prompt of two were accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.where(), "groups[0].images");
  }
}

// A scratch folder: root/ with an image, a sub-folder, and links in and out of it.
class ImageRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("tokenfocus-root-" + std::to_string(::getpid()));
    fs::remove_all(base_);
    fs::create_directories(base_ / "root" / "sub");
    std::ofstream(base_ / "root" / "sub" / "in.png") << "x";
    std::ofstream(base_ / "secret.png") << "x";
    fs::create_symlink(base_ / "secret.png", base_ / "root" / "out.png");
    fs::create_symlink(base_ / "root" / "sub" / "in.png", base_ / "root" / "alias.png");
  }
  void TearDown() override { fs::remove_all(base_); }
  int status_of(const ImageRoot& root, const std::string& path) {
    try {
      root.resolve(path, "items[0].image.path");
    } catch (const RequestError& e) {
      EXPECT_EQ(e.where(), "items[0].image.path");
      return e.status();
    }
    return 200;
  }
  fs::path base_;
};

TEST_F(ImageRootTest, PathsStayBelowTheRoot) {
  const ImageRoot root((base_ / "root").string());
  EXPECT_EQ(root.resolve("sub/in.png", "w"), fs::canonical(base_ / "root" / "sub" / "in.png"));
  EXPECT_EQ(status_of(root, "alias.png"), 200) << "a link that stays inside is fine";
  EXPECT_EQ(status_of(root, "out.png"), 403) << "a symlink out of the root";
  EXPECT_EQ(status_of(root, "../secret.png"), 403);
  EXPECT_EQ(status_of(root, "sub/../../secret.png"), 403);
  EXPECT_EQ(status_of(root, (base_ / "secret.png").string()), 403) << "absolute";
  EXPECT_EQ(status_of(root, "sub/none.png"), 422);
  EXPECT_EQ(status_of(root, "sub"), 422) << "a folder is not an image";
  const ImageRoot none("");
  EXPECT_EQ(status_of(none, "sub/in.png"), 403) << "no --image-root: base64 only";
}

std::string as_text(const std::vector<uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

TEST(Base64, Rfc4648VectorsWithAndWithoutPadding) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"Zg==", "f"},         {"Zm8=", "fo"},         {"Zm9v", "foo"}, {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"}, {"Zm9vYmFy", "foobar"}, {"Zg", "f"},     {"Zm8", "fo"}};
  for (const auto& [encoded, plain] : vectors)
    EXPECT_EQ(as_text(decode_base64(encoded, "w")), plain) << encoded;
}

TEST(Base64, RoundTripsRandomBytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> bytes(static_cast<size_t>(rng() % 300));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    std::string text;  // the textbook encoder, independent of OpenSSL
    for (size_t i = 0; i < bytes.size(); i += 3) {
      uint32_t v = static_cast<uint32_t>(bytes[i]) << 16;
      if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(bytes[i + 1]) << 8;
      if (i + 2 < bytes.size()) v |= bytes[i + 2];
      text += alphabet[(v >> 18) & 63];
      text += alphabet[(v >> 12) & 63];
      text += i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=';
      text += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
    }
    if (bytes.empty()) continue;
    EXPECT_EQ(decode_base64(text, "w"), bytes) << text;
  }
}

TEST(Base64, MalformedIsA400NamingTheField) {
  for (const std::string bad : {"Zm9v!", "Zm9vY", "Z===", "Zm=v", "Zm9v\nYmFy", "@@@@"}) {
    try {
      decode_base64(bad, "items[2].image.base64");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_EQ(e.where(), "items[2].image.base64");
    }
  }
}

TEST(PairRewards, FocusDiffNormalisationOverTheWholeGroup) {
  // Two prompts x 3 images: the six rewards are normalised together, std with n - 1.
  const std::vector<double> r = {4.0, 3.5, 1.0, 2.0, 5.0, 2.5};
  const GroupAdvantages a = pair_group_advantages(r);
  const double mean = 18.0 / 6;
  double ss = 0;
  for (double x : r) ss += (x - mean) * (x - mean);
  const double sd = std::sqrt(ss / 5);
  EXPECT_DOUBLE_EQ(a.mean, mean);
  EXPECT_DOUBLE_EQ(a.std, sd);
  for (size_t i = 0; i < r.size(); ++i)
    EXPECT_DOUBLE_EQ(a.advantages[i], (r[i] - mean) / (sd + 1e-4));
  const GroupAdvantages same = pair_group_advantages({3.0, 3.0});
  EXPECT_EQ(same.advantages, (std::vector<double>{0.0, 0.0})) << "no spread: zero advantage";
}

TEST(ServeMetrics, PrometheusTextWithCumulativeBuckets) {
  ServeMetrics m;
  m.request_done("/v1/score", 200, 0.003);
  m.request_done("/v1/score", 200, 0.2);
  m.request_done("/v1/score", 400, 0.001);
  m.batch_done(3);
  m.batch_done(16);
  const std::string text = m.prometheus_text(5);
  for (const std::string line :
       {"tokenfocus_serve_requests_total{route=\"/v1/score\",code=\"200\"} 2",
        "tokenfocus_serve_requests_total{route=\"/v1/score\",code=\"400\"} 1",
        "tokenfocus_serve_items_total 19", "tokenfocus_serve_batches_total 2",
        "tokenfocus_serve_batch_size_bucket{le=\"2\"} 0",
        "tokenfocus_serve_batch_size_bucket{le=\"4\"} 1",
        "tokenfocus_serve_batch_size_bucket{le=\"16\"} 2",
        "tokenfocus_serve_batch_size_bucket{le=\"+Inf\"} 2", "tokenfocus_serve_batch_size_sum 19",
        "tokenfocus_serve_queue_depth 5",
        "tokenfocus_serve_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.005\"} 2",
        "tokenfocus_serve_request_duration_seconds_bucket{route=\"/v1/score\",le=\"0.25\"} 3",
        "tokenfocus_serve_request_duration_seconds_count{route=\"/v1/score\"} 3",
        "# TYPE tokenfocus_serve_request_duration_seconds histogram"})
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\nin:\n" << text;
}

}  // namespace
}  // namespace tokenfocus::launch::serve
