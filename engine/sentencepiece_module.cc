// libbeex_sentencepiece: SentencePiece behind a C ABI, loaded by
// sentencepiece_adapter.cc with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), or with
// dlmopen(LM_ID_NEWLM) in sanitized builds, whose runtimes refuse DEEPBIND.
//
// Why a separate module: Debian's libsentencepiece.so exports its own bundled
// copy of protobuf-lite. Linked into a process that also uses libprotobuf
// (gRPC does), the two copies interpose each other's symbols and the process
// crashes in protobuf's static initialisers. Loaded locally with deep binding,
// SentencePiece keeps to its own copy.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

extern "C" {

__attribute__((visibility("default"))) void* beex_spm_load(const char* proto,
                                                           size_t size,
                                                           char* error,
                                                           size_t error_size) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status =
      sp->LoadFromSerializedProto(std::string_view(proto, size));
  if (!status.ok()) {
    std::strncpy(error, status.ToString().c_str(), error_size - 1);
    error[error_size - 1] = '\0';
    return nullptr;
  }
  return sp.release();  // owned by the caller until beex_spm_free
}

__attribute__((visibility("default"))) void beex_spm_free(void* sp) {
  std::unique_ptr<sentencepiece::SentencePieceProcessor>(
      static_cast<sentencepiece::SentencePieceProcessor*>(sp));
}

__attribute__((visibility("default"))) int beex_spm_piece_count(void* sp) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(sp)
      ->GetPieceSize();
}

// Writes up to `capacity` ids; returns the number of ids the text has (call
// again with more room if it exceeds capacity), or -1 on error.
__attribute__((visibility("default"))) long beex_spm_encode(
    void* sp, const char* text, size_t size, int* ids, size_t capacity) {
  std::vector<int> out;
  const auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(sp)->Encode(
          std::string_view(text, size), &out);
  if (!status.ok()) return -1;
  std::copy_n(out.begin(), std::min(out.size(), capacity), ids);
  return static_cast<long>(out.size());
}

}  // extern "C"
