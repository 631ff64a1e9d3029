message(STATUS "include rules: not yet written")
