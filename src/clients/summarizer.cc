#include "src/clients/summarizer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace vecsync::clients {

std::string TemplateSummarizer::SummarizeOne(const std::string& input) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(input, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    if (!out.empty()) out += ' ';
    out.append(line.data(), line.size());
    if (out.back() != '.' && out.back() != ':') out += '.';
  }
  constexpr size_t kMaxBytes = 1000;
  if (out.size() > kMaxBytes) {
    out.resize(kMaxBytes);
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  return out;
}

absl::StatusOr<std::vector<absl::StatusOr<std::string>>> TemplateSummarizer::Summarize(
    absl::string_view prompt, const std::vector<std::string>& inputs) {
  std::vector<absl::StatusOr<std::string>> out;
  out.reserve(inputs.size());
  for (const std::string& input : inputs) {
    if (absl::StripAsciiWhitespace(input).empty()) {
      out.push_back(absl::InvalidArgumentError("nothing to summarize: the entity renders empty"));
    } else {
      out.push_back(SummarizeOne(input));
    }
  }
  return out;
}

}  // namespace vecsync::clients
