// `tokenfocus debug tokenize --tokenizer FILE --jsonl IN [--out OUT]`: reads {"text": ...} lines
// and writes {"ids": [...]} lines, so anyone can compare our tokenizer with Hugging Face's.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/tokenizer.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

// Tokenises every line of `in`; errors name the input file and line number.
void tokenize_lines(const data::Tokenizer& tokenizer, std::istream& in, const std::string& in_name,
                    std::ostream& out) {
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw_user_error("{}:{}: not valid JSON ({})", in_name, number, e.what());
    }
    if (!record.is_object() || !record.contains("text") || !record.at("text").is_string()) {
      throw_user_error("{}:{}: expected an object with a string \"text\"", in_name, number);
    }
    std::vector<int64_t> ids;
    try {
      ids = tokenizer.encode(record.at("text").get_ref<const std::string&>());
    } catch (const UserError& e) {
      throw_user_error("{}:{}: {}", in_name, number, e.what());
    }
    out << nlohmann::json{{"ids", ids}}.dump() << '\n';
  }
}

CommandRun setup_debug_tokenize(CLI::App& command) {
  struct Options {
    std::string tokenizer;
    std::string jsonl;
    std::string out;
  };
  auto options = std::make_shared<Options>();
  command.add_option("--tokenizer", options->tokenizer, "Hugging Face tokenizer.json")->required();
  command.add_option("--jsonl", options->jsonl, "Input: one {\"text\": ...} object per line")
      ->required();
  command.add_option("--out", options->out, "Output JSON lines (default: stdout)");
  command.footer(
      "Writes one {\"ids\": [...]} line per input line, as Hugging Face "
      "encode(text, add_special_tokens=False) does: special tokens written in the text are "
      "matched.");
  return [options] {
    const auto tokenizer = data::Tokenizer::from_file(options->tokenizer);
    std::ifstream in(options->jsonl, std::ios::binary);
    if (!in) throw_user_error("{}: cannot open the input file", options->jsonl);
    if (options->out.empty()) {
      tokenize_lines(tokenizer, in, options->jsonl, std::cout);
      std::cout.flush();
      return 0;
    }
    // Temporary name, then rename: a failed run never leaves a half-written OUT behind.
    write_via_temporary(options->out, [&](const std::string& temporary) {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      if (!out) throw_user_error("{}: cannot write the output file", temporary);
      tokenize_lines(tokenizer, in, options->jsonl, out);
      out.close();
      if (!out) throw_user_error("{}: writing failed", temporary);
    });
    return 0;
  };
}

TOKENFOCUS_COMMAND("debug", "Tools for checking tokenizers, models and checkpoints", nullptr);
TOKENFOCUS_COMMAND("debug tokenize", "Tokenize JSON lines with a tokenizer.json (ids per line)",
                   setup_debug_tokenize);

}  // namespace
}  // namespace tokenfocus::launch
