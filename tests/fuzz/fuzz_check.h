#ifndef BEEX_TESTS_FUZZ_FUZZ_CHECK_H_
#define BEEX_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

// A violated property is a finding: abort, so libFuzzer saves the input and
// the replay test fails. Stays on in release builds (unlike assert).
#define FUZZ_CHECK(cond)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #cond);                                   \
      std::abort();                                                    \
    }                                                                  \
  } while (0)

#endif  // BEEX_TESTS_FUZZ_FUZZ_CHECK_H_
