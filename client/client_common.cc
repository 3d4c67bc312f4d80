#include "client/client_common.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace beex::client {

std::optional<v1::ExitPolicy> ParsePolicy(std::string_view name) {
  if (name.empty()) return v1::EXIT_POLICY_UNSPECIFIED;
  // The enum's own names, so a policy added to the API needs no client edit.
  const auto* value = v1::ExitPolicy_descriptor()->FindValueByName(
      absl::StrCat("EXIT_POLICY_", absl::AsciiStrToUpper(std::string(name))));
  if (value == nullptr || value->number() == v1::EXIT_POLICY_UNSPECIFIED) {
    return std::nullopt;
  }
  return static_cast<v1::ExitPolicy>(value->number());
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const auto i = static_cast<size_t>(code);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

std::optional<v1::TextInput> ParseInputLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return std::nullopt;
  v1::TextInput in;
  const size_t tab = line.find('\t');
  in.set_text(std::string(line.substr(0, tab)));
  if (tab != std::string_view::npos) {
    in.set_text_pair(std::string(line.substr(tab + 1)));
  }
  return in;
}

}  // namespace beex::client
