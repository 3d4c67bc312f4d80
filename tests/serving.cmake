# Serving: batcher, work pool, and the server's production behaviour over a
# real gRPC channel on loopback (helper S1).
beex_test(serving_batcher_test unit/serving_batcher_test.cc)
beex_test(inflight_budget_test unit/inflight_budget_test.cc)
beex_test(model_config_test unit/model_config_test.cc)
beex_test(serving_test integration/serving_test.cc)
target_link_libraries(serving_test PRIVATE beex_health_proto)
# A hang (a drain that never ends) must fail, not stall CI.
set_tests_properties(serving_test PROPERTIES TIMEOUT 300)
beex_test(stream_test integration/stream_test.cc)
target_link_libraries(stream_test PRIVATE beex_health_proto)
set_tests_properties(stream_test PROPERTIES TIMEOUT 300)
beex_test(fault_injection_test integration/fault_injection_test.cc)
target_link_libraries(fault_injection_test PRIVATE beex_health_proto)
set_tests_properties(fault_injection_test PROPERTIES TIMEOUT 300)

add_test(NAME serving_cli_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/serving_cli_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(serving_cli_test PROPERTIES TIMEOUT 300)

# Not a test: the in-process side of bench/serving_bench.sh, built with the
# tests so that the benchmark needs nothing else.
add_executable(serving_engine_bench ${CMAKE_SOURCE_DIR}/bench/serving_engine_bench.cc)
target_compile_options(serving_engine_bench PRIVATE ${BEEX_WARNINGS})
target_include_directories(serving_engine_bench PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(serving_engine_bench PRIVATE beex_engine absl::flags
                      absl::flags_parse absl::flags_usage)
# The same allocator as the server, so the serving benchmark compares like with like.
beex_link_allocator(serving_engine_bench)

# Not a test either: the floor of bench/serving_bench.sh, beex's API over gRPC
# with no compute behind it.
add_executable(grpc_floor_server ${CMAKE_SOURCE_DIR}/bench/grpc_floor_server.cc)
target_compile_options(grpc_floor_server PRIVATE ${BEEX_WARNINGS})
target_link_libraries(grpc_floor_server PRIVATE beex_api_proto gRPC::grpc++
                      absl::synchronization absl::flags absl::flags_parse
                      absl::flags_usage)
beex_link_allocator(grpc_floor_server)

add_test(NAME bench_tools_cli_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/bench_tools_cli_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(bench_tools_cli_test PROPERTIES TIMEOUT 120)
