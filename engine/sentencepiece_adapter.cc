#include "engine/sentencepiece_adapter.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace beex {
namespace {

// The sanitizer runtimes refuse RTLD_DEEPBIND (google/sanitizers#611), so a
// sanitized build gives the module a link-map namespace of its own instead:
// dlmopen(LM_ID_NEWLM) isolates SentencePiece's protobuf copy just as well.
// The module is built without sanitizers (engine/CMakeLists.txt): the
// sanitizer runtime of this namespace does not exist in the new one.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

void* OpenIsolated(const std::string& path) {
  if (kSanitized) return dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW);
  return dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
}

struct Module {
  void* (*load)(const char*, size_t, char*, size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*piece_count)(void*) = nullptr;
  long (*encode)(void*, const char*, size_t, int*, size_t) = nullptr;
  std::string error;
};

std::string ExecutableDir() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return ".";
  const std::string exe(path, n);
  return exe.substr(0, exe.rfind('/'));
}

// Where the module may be: $BEEX_SENTENCEPIECE_MODULE, beside the program,
// in ../lib of an installed program, or where the build put it.
Module LoadModule() {
  Module m;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("BEEX_SENTENCEPIECE_MODULE")) {
    candidates.push_back(env);
  }
  const std::string dir = ExecutableDir();
  candidates.push_back(dir + "/libbeex_sentencepiece.so");
  candidates.push_back(dir + "/../lib/libbeex_sentencepiece.so");
  candidates.push_back(BEEX_SENTENCEPIECE_MODULE_PATH);
  void* lib = nullptr;
  std::string tried;
  for (const auto& path : candidates) {
    lib = OpenIsolated(path);
    if (lib != nullptr) break;
    absl::StrAppend(&tried, "\n  ", path, ": ", dlerror());
  }
  if (lib == nullptr) {
    m.error = absl::StrCat("cannot load libbeex_sentencepiece.so:", tried);
    return m;
  }
  m.load = reinterpret_cast<decltype(m.load)>(dlsym(lib, "beex_spm_load"));
  m.free = reinterpret_cast<decltype(m.free)>(dlsym(lib, "beex_spm_free"));
  m.piece_count = reinterpret_cast<decltype(m.piece_count)>(
      dlsym(lib, "beex_spm_piece_count"));
  m.encode =
      reinterpret_cast<decltype(m.encode)>(dlsym(lib, "beex_spm_encode"));
  if (!m.load || !m.free || !m.piece_count || !m.encode) {
    m.error = "libbeex_sentencepiece.so lacks its entry points";
  }
  return m;
}

const Module& GetModule() {
  static const Module module = LoadModule();  // never unloaded
  return module;
}

}  // namespace

absl::StatusOr<SentencePieceAdapter> SentencePieceAdapter::FromSerializedProto(
    std::string_view proto) {
  const Module& m = GetModule();
  if (!m.error.empty()) return absl::FailedPreconditionError(m.error);
  char error[512] = {};
  void* handle = m.load(proto.data(), proto.size(), error, sizeof error);
  if (handle == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer model does not load: ", error));
  }
  return SentencePieceAdapter(handle);
}

SentencePieceAdapter::~SentencePieceAdapter() {
  if (handle_ != nullptr) GetModule().free(handle_);
}

int SentencePieceAdapter::PieceCount() const {
  return GetModule().piece_count(handle_);
}

absl::StatusOr<std::vector<int>> SentencePieceAdapter::Encode(
    std::string_view text) const {
  std::vector<int> ids(text.size() + 8);
  long n = GetModule().encode(handle_, text.data(), text.size(), ids.data(),
                              ids.size());
  if (n > static_cast<long>(ids.size())) {
    ids.resize(n);
    n = GetModule().encode(handle_, text.data(), text.size(), ids.data(),
                           ids.size());
  }
  if (n < 0) return absl::InvalidArgumentError("tokenizer: encoding failed");
  ids.resize(n);
  return ids;
}

}  // namespace beex
