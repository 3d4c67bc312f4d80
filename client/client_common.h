#ifndef BEEX_CLIENT_CLIENT_COMMON_H_
#define BEEX_CLIENT_CLIENT_COMMON_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <string_view>

#include "beex/v1/inference.pb.h"

namespace beex::client {

// "none", "entropy", ... (any EXIT_POLICY_* value, lower case, without the
// prefix); "" is the model's default. nullopt for an unknown name.
std::optional<v1::ExitPolicy> ParsePolicy(std::string_view name);

// The canonical name of a gRPC status code, e.g. "RESOURCE_EXHAUSTED".
const char* CodeName(grpc::StatusCode code);

// One input from a line of text: a tab separates a sentence pair; a trailing
// CR is dropped. nullopt for an empty line.
std::optional<v1::TextInput> ParseInputLine(std::string_view line);

}  // namespace beex::client

#endif  // BEEX_CLIENT_CLIENT_COMMON_H_
