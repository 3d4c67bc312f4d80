# Kernel tests (engine/kernels/): each kernel against its scalar reference.
# They link the engine only, so they build and run without the server.
function(beex_kernel_test name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${BEEX_WARNINGS})
  target_compile_definitions(${name} PRIVATE BEEX_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE beex_engine GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
endfunction()

beex_kernel_test(bgemm_kernel_test unit/bgemm_kernel_test.cc)
beex_kernel_test(linear_kernel_test unit/linear_kernel_test.cc)
beex_kernel_test(scratch_test unit/scratch_test.cc)
beex_kernel_test(threads_test unit/threads_test.cc)
# Not a kernel, but engine-only too: the container CPU limit threads size by,
# and how the cores are shared among batches.
beex_kernel_test(cpu_quota_test unit/cpu_quota_test.cc)

# Activation bits 8 and 1 end to end: Python writes tiny random-weight bundles
# and their goldens (a fixture, ~5 s), the engine must match them.
add_test(NAME quant_golden_fixture
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/quant_golden.py
                 ${CMAKE_CURRENT_BINARY_DIR}/quant_golden)
set_tests_properties(quant_golden_fixture PROPERTIES
                     FIXTURES_SETUP quant_golden
                     ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE;OMP_NUM_THREADS=1")
beex_kernel_test(quant_golden_kernel_test unit/quant_golden_kernel_test.cc)
target_link_libraries(quant_golden_kernel_test PRIVATE protobuf::libprotobuf)
set_tests_properties(quant_golden_kernel_test PROPERTIES
                     FIXTURES_REQUIRED quant_golden
                     ENVIRONMENT "BEEX_QUANT_GOLDEN_DIR=${CMAKE_CURRENT_BINARY_DIR}/quant_golden")
beex_kernel_test(dense_kernel_test unit/dense_kernel_test.cc)
