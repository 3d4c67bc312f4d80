# Training (train/): the bundle a fresh tiny training run exports must load in
# the engine and give PyTorch's logits, LTE scores and exit decisions.
add_test(NAME training_tiny_fixture
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/tiny_fixture.py
                 ${CMAKE_BINARY_DIR}/training-tiny)
set_tests_properties(training_tiny_fixture PROPERTIES
                     FIXTURES_SETUP tiny_bundle
                     ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")

# Engine only (no server library), so it builds whatever state server/ is in.
add_executable(training_bundle_test unit/training_bundle_test.cc)
target_compile_options(training_bundle_test PRIVATE ${BEEX_WARNINGS})
target_compile_definitions(training_bundle_test PRIVATE BEEX_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
target_include_directories(training_bundle_test PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(training_bundle_test PRIVATE beex_engine GTest::gtest_main)
add_test(NAME training_bundle_test COMMAND training_bundle_test)
set_tests_properties(training_bundle_test PROPERTIES
                     FIXTURES_REQUIRED tiny_bundle
                     ENVIRONMENT "BEEX_TINY_DIR=${CMAKE_BINARY_DIR}/training-tiny")

# train/calibrate.py over the engine's traces of the tiny bundles.
add_test(NAME calibration_test
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/calibrate_check.py)
set_tests_properties(calibration_test PROPERTIES
                     FIXTURES_REQUIRED tiny_bundle
                     ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE;BEEX_TINY_DIR=${CMAKE_BINARY_DIR}/training-tiny;BEEX_TRACE=$<TARGET_FILE:beex-trace>")
