# ThreadSanitizer builds only: Debian's Abseil is not instrumented, so the
# tsan test preset preloads this library to annotate absl::Mutex for TSan
# (tsan/absl_mutex_annotations.cc).
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=thread")
  add_library(beex_tsan_absl SHARED tsan/absl_mutex_annotations.cc)
  target_compile_options(beex_tsan_absl PRIVATE ${BEEX_WARNINGS}
                         -fno-sanitize=all)
  target_link_options(beex_tsan_absl PRIVATE -fno-sanitize=all)
  target_link_libraries(beex_tsan_absl PRIVATE ${CMAKE_DL_LIBS})
endif()
