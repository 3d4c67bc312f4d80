# Fuzz targets (tests/fuzz/, docs/RELIABILITY.md): the tokenizer path,
# request validation, the bundle loader and the model built from a bundle.
#  - Every build: <target>_replay runs the target's entry point over the
#    committed seeds and every crash the fuzzers found (regressions/).
#  - BEEX_FUZZ=ON with clang (preset "fuzz"): the libFuzzer binaries, and
#    ctest runs each for BEEX_FUZZ_SECONDS on a corpus seeded from GLUE and
#    the bundled models. Longer runs: scripts/fuzz.sh.
option(BEEX_FUZZ "Build the libFuzzer targets (clang only)" OFF)
set(BEEX_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs in ctest")

set(beex_fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(beex_fuzz_libs_tokenizer beex_engine absl::strings absl::status)
set(beex_fuzz_libs_validation absl::strings absl::status)
set(beex_fuzz_libs_bundle beex_engine ZLIB::ZLIB)
set(beex_fuzz_libs_model beex_engine ZLIB::ZLIB)
set(beex_fuzz_extra_tokenizer ${CMAKE_SOURCE_DIR}/server/validation.cc)
set(beex_fuzz_extra_validation ${CMAKE_SOURCE_DIR}/server/validation.cc)
set(beex_fuzz_extra_bundle)
set(beex_fuzz_extra_model)

function(beex_fuzz_executable exe target)
  add_executable(${exe} ${beex_fuzz_dir}/${target}_fuzz.cc
                 ${beex_fuzz_extra_${target}} ${ARGN})
  target_compile_options(${exe} PRIVATE ${BEEX_WARNINGS})
  target_compile_definitions(${exe} PRIVATE BEEX_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${exe} PRIVATE ${beex_fuzz_libs_${target}})
endfunction()

foreach(target tokenizer validation bundle model)
  beex_fuzz_executable(${target}_replay ${target} ${beex_fuzz_dir}/replay_main.cc)
  add_test(NAME ${target}_fuzz_replay
           COMMAND ${target}_replay ${beex_fuzz_dir}/seeds/${target}
                   ${beex_fuzz_dir}/regressions/${target})
endforeach()

if(BEEX_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BEEX_FUZZ needs clang (libFuzzer): use the fuzz preset")
  endif()
  add_test(NAME fuzz_seeds
           COMMAND /usr/bin/python3 ${beex_fuzz_dir}/make_seeds.py
                   ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/fuzz-seeds)
  set_tests_properties(fuzz_seeds PROPERTIES FIXTURES_SETUP fuzz_seeds LABELS fuzz)
  foreach(target tokenizer validation bundle model)
    beex_fuzz_executable(${target}_fuzz ${target})
    target_link_options(${target}_fuzz PRIVATE -fsanitize=fuzzer)
    # New corpus entries go to a scratch dir; the seeds stay as generated.
    set(corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${target})
    add_test(NAME ${target}_fuzz
             COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                     ${beex_fuzz_dir}/run_fuzzer.sh $<TARGET_FILE:${target}_fuzz>
                     ${BEEX_FUZZ_SECONDS} ${corpus}
                     ${CMAKE_CURRENT_BINARY_DIR}/fuzz-seeds/${target}
                     ${beex_fuzz_dir}/seeds/${target}
                     ${beex_fuzz_dir}/regressions/${target})
    set_tests_properties(${target}_fuzz PROPERTIES
                         FIXTURES_REQUIRED fuzz_seeds LABELS fuzz
                         TIMEOUT 600)
  endforeach()
endif()
