beex_test(wire_requests_test unit/wire_requests_test.cc)
