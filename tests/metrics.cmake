# Metrics registry and exposition format, the operations HTTP port, and the
# access log (server/metrics.*, beex_metrics.*, http_server.*, access_log.*).
beex_test(metrics_test unit/metrics_test.cc)
beex_test(http_server_test unit/http_server_test.cc)
beex_test(access_log_test unit/access_log_test.cc)
