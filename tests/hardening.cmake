# Hardening: the soak test at CI length (bench/soak.sh for the full run).
add_test(NAME soak_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/soak_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
# 20 s of traffic, the server's start and drain, and a call's deadline plus
# grace at the end; a hang must fail, not stall CI.
set_tests_properties(soak_test PROPERTIES TIMEOUT 120)
