# include_rules.cmake: the dependency check of style.md §4 ("Who may include whom").
#
#   cmake -DSOURCE_DIR=<repository root> -P tests/include_rules.cmake
#
# Reads every `#include "..."` and `#include <...>` line of net/, store/, engine/ and tools/ (.h and
# .cc files) and fails, naming FILE:LINE and the rule, on:
#   edges     net includes store/engine/tools; store includes net/engine/tools; engine includes
#             tools; nothing includes tests/ or bench/ (dependencies point tools -> engine ->
#             {net, store})
#   internal  a module includes another module's <module>/internal/ header
#   path      `../` in an include, or a quoted include that is not a path from the repository
#             root (style.md §5)
#   asio      <asio...> included directly anywhere but net/asio.h and net/*.cc (every other file
#             reaches Asio through net/asio.h; store never sees Asio at all); <asio/experimental/...>
#             included or `asio::experimental` spelt anywhere outside net/asio.h (style.md §8)
#   headers   a third-party header in a module's public header (<module>/*.h) that the table
#             does not allow: net only Asio (through net/asio.h), store and tools nothing, engine
#             only Asio through net/asio.h
#   sources   a third-party header in a module's .cc files (or its internal/ headers, which only
#             its .cc files include) that is not in the table's last column for that module
#   unknown   a header of a third-party library this script does not know: add it to style.md §4
#             and to the tables below
#
# Two libraries are allowed although the table does not name them:
#   tl-expected  the error carrier every <module>/error.h exposes (style.md §7, `Result<T>`)
#   fmt          spdlog's formatting library (spdlog is built against an external fmt), allowed
#                wherever spdlog is
#
# C and C++ standard headers and POSIX/Linux system headers are always allowed. Comments are not
# read for `asio::experimental`; include lines inside comments or `#if 0` are still checked.

cmake_minimum_required(VERSION 3.25)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<repository root> -P include_rules.cmake")
endif()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)

set(modules net store engine tools)

# Which of our modules each module may include (itself included).
set(may_include_net net)
set(may_include_store store)
set(may_include_engine engine net store)
set(may_include_tools tools engine net store)

# Third-party libraries, by the include path that identifies them (a regex on the path inside
# <...>). Order matters only for readability; the patterns do not overlap.
set(libraries asio tl-expected fmt spdlog rocksdb openssl xxhash simdjson nghttp2 llhttp zlib
              CLI11 toml++ gtest benchmark blake2 sodium)
set(pattern_asio "^asio(\\.hpp|/)")
set(pattern_tl-expected "^tl/")
set(pattern_fmt "^fmt/")
set(pattern_spdlog "^spdlog/")
set(pattern_rocksdb "^rocksdb/")
set(pattern_openssl "^openssl/")
set(pattern_xxhash "^xxhash\\.h$")
set(pattern_simdjson "^simdjson(\\.h|/)")
set(pattern_nghttp2 "^nghttp2/")
set(pattern_llhttp "^llhttp\\.h$")
set(pattern_zlib "^(zlib|zconf)\\.h$")
set(pattern_CLI11 "^CLI/")
set(pattern_toml++ "^toml\\+\\+/")
set(pattern_gtest "^(gtest|gmock)/")
set(pattern_benchmark "^benchmark/")
set(pattern_blake2 "^blake2\\.h$")
set(pattern_sodium "^sodium(\\.h|/)")

# style.md §4, third column: third-party visible in a module's public headers. Asio is handled by
# the asio rule (net/asio.h only), so it is not listed here.
set(header_libs_net tl-expected)
set(header_libs_store tl-expected)
set(header_libs_engine tl-expected)
set(header_libs_tools tl-expected)

# style.md §4, last column: third-party a module's .cc files (and internal/ headers) may include.
# Asio for net/*.cc is handled by the asio rule.
# zlib inflates gzip response bodies (pypi-mirror-protocol.md §1.0); style.md's table predates it.
set(source_libs_net tl-expected nghttp2 llhttp openssl spdlog fmt zlib)
set(source_libs_store tl-expected rocksdb openssl xxhash spdlog fmt)
set(source_libs_engine tl-expected simdjson openssl xxhash spdlog fmt)
set(source_libs_tools tl-expected CLI11 toml++ spdlog fmt)

# Directories of system headers (<sys/file.h>, <arpa/inet.h>, ...).
set(system_dirs_regex "^(sys|arpa|netinet|net|linux|asm|bits|netpacket)/")

set(violations "")
set(violation_count 0)
set(file_count 0)
set(include_count 0)

macro(violation file line rule text)
  string(APPEND violations "  ${file}:${line}: [${rule}] ${text}\n")
  math(EXPR violation_count "${violation_count} + 1")
endmacro()

# Sets `${out}` to the library an angle include belongs to, "system" for a standard or system
# header, or "unknown".
function(classify_angle path out)
  foreach(lib IN LISTS libraries)
    if(path MATCHES "${pattern_${lib}}")
      set(${out} "${lib}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  if(NOT path MATCHES "[./]")
    set(${out} "system" PARENT_SCOPE)  # <vector>, <cstdint>
  elseif(path MATCHES "${system_dirs_regex}" OR path MATCHES "^[a-z0-9_]+\\.h$")
    set(${out} "system" PARENT_SCOPE)  # <sys/file.h>, <unistd.h>, <signal.h>
  else()
    set(${out} "unknown" PARENT_SCOPE)
  endif()
endfunction()

set(files "")
foreach(module IN LISTS modules)
  file(GLOB_RECURSE module_files RELATIVE "${SOURCE_DIR}" LIST_DIRECTORIES false
       "${SOURCE_DIR}/${module}/*.h" "${SOURCE_DIR}/${module}/*.cc")
  list(APPEND files ${module_files})
endforeach()
list(SORT files)

foreach(file IN LISTS files)
  math(EXPR file_count "${file_count} + 1")
  string(REGEX MATCH "^[^/]+" module "${file}")
  set(is_internal FALSE)
  if(file MATCHES "^${module}/internal/")
    set(is_internal TRUE)
  endif()
  set(is_public_header FALSE)
  if(file MATCHES "\\.h$" AND NOT is_internal)
    set(is_public_header TRUE)
  endif()

  file(READ "${SOURCE_DIR}/${file}" content)
  # One list element per line: neutralise the characters CMake lists treat specially.
  string(REPLACE "\\" "/" content "${content}")
  string(REPLACE ";" "," content "${content}")
  string(REPLACE "[" "(" content "${content}")
  string(REPLACE "]" ")" content "${content}")
  string(REPLACE "\n" ";" content "${content}")

  set(line_number 0)
  foreach(line IN LISTS content)
    math(EXPR line_number "${line_number} + 1")

    # asio::experimental outside net/asio.h (code only, not comments).
    if(line MATCHES "asio::experimental" AND NOT file STREQUAL "net/asio.h")
      string(REGEX REPLACE "//.*$" "" code "${line}")
      if(code MATCHES "asio::experimental")
        violation("${file}" ${line_number} asio
                  "`asio::experimental` is spelt only in net/asio.h (use its vocabulary)")
      endif()
    endif()

    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*([<\"])([^>\"]*)[>\"]")
      continue()
    endif()
    set(delimiter "${CMAKE_MATCH_1}")
    set(path "${CMAKE_MATCH_2}")
    math(EXPR include_count "${include_count} + 1")

    if(path MATCHES "(^|/)\\.\\./")
      violation("${file}" ${line_number} path
                "\"${path}\": no ../ in an include; include from the repository root")
      continue()
    endif()

    if(delimiter STREQUAL "\"")
      # One of ours, spelt from the repository root.
      string(REGEX MATCH "^[^/]+" target "${path}")
      if(NOT EXISTS "${SOURCE_DIR}/${path}")
        violation("${file}" ${line_number} path
                  "\"${path}\" is not a path from the repository root (style.md §5)")
        continue()
      endif()
      if(NOT target IN_LIST modules)
        violation("${file}" ${line_number} edges
                  "${module} may not include \"${path}\" (only ${may_include_${module}})")
        continue()
      endif()
      if(NOT target IN_LIST may_include_${module})
        list(JOIN may_include_${module} ", " allowed)
        violation("${file}" ${line_number} edges
                  "${module} may not include ${target}/ (\"${path}\"); ${module} may include: ${allowed}")
        continue()
      endif()
      if(path MATCHES "^[^/]+/internal/" AND NOT target STREQUAL module)
        violation("${file}" ${line_number} internal
                  "\"${path}\" is private to ${target}/; ${module}/ may not include it")
      endif()
      continue()
    endif()

    # <...>: standard, system or third-party.
    classify_angle("${path}" lib)
    if(lib STREQUAL "system")
      continue()
    endif()
    if(lib STREQUAL "unknown")
      violation("${file}" ${line_number} unknown
                "<${path}> is from a library style.md §4 does not list; add it there and to tests/include_rules.cmake")
      continue()
    endif()
    if(lib STREQUAL "asio")
      if(file STREQUAL "net/asio.h")
        continue()
      endif()
      if(path MATCHES "^asio/experimental/")
        violation("${file}" ${line_number} asio
                  "<${path}>: asio::experimental is reached only through \"net/asio.h\" (style.md §8)")
      elseif(module STREQUAL "store")
        violation("${file}" ${line_number} asio
                  "<${path}>: store does not include Asio (its API blocks; style.md §4)")
      elseif(module STREQUAL "net" AND NOT is_public_header)
        # net/*.cc: Asio SSL and the separately compiled implementation (asio_impl.cc).
      else()
        violation("${file}" ${line_number} asio
                  "<${path}>: ${module}/ reaches Asio only through \"net/asio.h\"")
      endif()
      continue()
    endif()
    if(is_public_header)
      if(NOT lib IN_LIST header_libs_${module})
        violation("${file}" ${line_number} headers
                  "<${path}> (${lib}) may not appear in a header of ${module}/; hide it in a .cc file (style.md §4)")
      endif()
    elseif(NOT lib IN_LIST source_libs_${module})
      list(JOIN source_libs_${module} ", " allowed)
      violation("${file}" ${line_number} sources
                "<${path}> (${lib}) is not a library ${module}/ may use (allowed: ${allowed})")
    endif()
  endforeach()
endforeach()

if(violation_count GREATER 0)
  message("${violations}")
  message(FATAL_ERROR
          "include rules: ${violation_count} violation(s) in ${file_count} files (${include_count} includes); see style.md §4")
endif()
message(STATUS "include rules: ${file_count} files, ${include_count} includes, no violations")
