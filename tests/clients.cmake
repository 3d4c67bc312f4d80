# The example clients in other languages, each against a live server.
foreach(lang python node)
  add_test(NAME ${lang}_client_test
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/client_languages_test.sh
                   ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${lang})
endforeach()

add_test(NAME loadgen_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/loadgen_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})

add_test(NAME loadgen_server_gone_test
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/loadgen_server_gone_test.sh
                 ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
