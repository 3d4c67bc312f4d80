# Deployment files: Kubernetes manifests and the image's entrypoint flags.
add_test(NAME deploy_manifests_test
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/deploy/test_manifests.py -v)
set_tests_properties(deploy_manifests_test PROPERTIES ENVIRONMENT
  "BEEX_SOURCE_DIR=${CMAKE_SOURCE_DIR};BEEX_SERVER=$<TARGET_FILE:beex-server>")

add_test(NAME scaleout_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/scaleout_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
