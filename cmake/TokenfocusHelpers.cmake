# Small functions so that each folder's CMakeLists.txt stays a few lines long.
include(GoogleTest)

# Flags for multi-rank tests: more ranks than cores, and root where CI runs as root.
execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE)
set(TOKENFOCUS_MPIEXEC_FLAGS --oversubscribe --bind-to none)
if(_uid STREQUAL "0")
  list(APPEND TOKENFOCUS_MPIEXEC_FLAGS --allow-run-as-root)
endif()

# One target that owns the precompiled <torch/torch.h>; every torch user reuses it.
function(_tokenfocus_torch_pch_target)
  if(TARGET tokenfocus_torch_pch)
    return()
  endif()
  set(_stub ${PROJECT_BINARY_DIR}/torch_pch_stub.cpp)
  if(NOT EXISTS ${_stub})
    file(WRITE ${_stub} "// Translation unit that builds the precompiled torch header.\n")
  endif()
  add_library(tokenfocus_torch_pch STATIC ${_stub})
  target_link_libraries(tokenfocus_torch_pch PUBLIC ${TORCH_LIBRARIES})
  target_precompile_headers(tokenfocus_torch_pch PRIVATE <torch/torch.h>)
endfunction()

# tokenfocus_use_torch(target): link libtorch and reuse the precompiled header.
function(tokenfocus_use_torch target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  if(TOKENFOCUS_USE_PCH)
    _tokenfocus_torch_pch_target()
    target_precompile_headers(${target} REUSE_FROM tokenfocus_torch_pch)
    if(CCACHE_PROGRAM)
      target_compile_options(${target} PRIVATE -fpch-preprocess)
    endif()
  endif()
endfunction()

# tokenfocus_add_library(NAME FOLDER [TORCH] DEPS ...): every .cpp below FOLDER becomes one static
# library (sources are globbed so that adding a file needs no CMake edit).
function(tokenfocus_add_library name folder)
  cmake_parse_arguments(L "TORCH" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE _srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.cpp)
  if(NOT _srcs)  # a folder with headers only (or none yet) is an interface library
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${L_DEPS})
    if(L_TORCH)
      target_link_libraries(${name} INTERFACE ${TORCH_LIBRARIES})
    endif()
    return()
  endif()
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${L_DEPS})
  if(L_TORCH)
    tokenfocus_use_torch(${name})
  endif()
endfunction()

function(_tokenfocus_test_executable name)
  cmake_parse_arguments(T "TORCH" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest)
  target_compile_definitions(${name} PRIVATE
    TOKENFOCUS_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TOKENFOCUS_BINARY_DIR="${PROJECT_BINARY_DIR}"
    TOKENFOCUS_REFERENCE_PYTHON="${TOKENFOCUS_REFERENCE_PYTHON}")
  if(T_TORCH)
    tokenfocus_use_torch(${name})
    # Every torch test starts from a seeded generator (tests/support/seeded_torch.cpp says why).
    if(NOT TARGET tokenfocus_seeded_torch)
      add_library(tokenfocus_seeded_torch OBJECT ${PROJECT_SOURCE_DIR}/tests/support/seeded_torch.cpp)
      target_link_libraries(tokenfocus_seeded_torch PRIVATE GTest::gtest)
      tokenfocus_use_torch(tokenfocus_seeded_torch)
    endif()
    target_link_libraries(${name} PRIVATE tokenfocus_seeded_torch)
  endif()
endfunction()

# tokenfocus_add_test(NAME [TORCH] [LABELS ...] SOURCES ... LIBS ...): a GoogleTest executable whose
# tests ctest discovers one by one. Tests run from the source root, so ../shared is reachable as
# "../shared". Labels (ctest -L): `reference` = compares against the .venv Python references,
# `mpi` = several ranks, `slurm` = needs the local Slurm, `gpu` = needs a CUDA device.
function(tokenfocus_add_test name)
  cmake_parse_arguments(T "TORCH" "" "SOURCES;LIBS;LABELS" ${ARGN})
  set(_torch "")
  if(T_TORCH)
    set(_torch TORCH)
  endif()
  _tokenfocus_test_executable(${name} ${_torch} SOURCES ${T_SOURCES} LIBS ${T_LIBS} GTest::gtest_main)
  set(_properties TIMEOUT 600)
  if(T_LABELS)
    list(JOIN T_LABELS "\\;" _labels)  # one property value through gtest_discover_tests
    list(APPEND _properties LABELS ${_labels})
  endif()
  gtest_discover_tests(${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} DISCOVERY_TIMEOUT 120
                       PROPERTIES ${_properties})
endfunction()

# tokenfocus_add_mpi_test(NAME NP n [TORCH] [TIMEOUT s] SOURCES ... LIBS ... [ARGS ...] [LABELS ...]):
# a test executable with its own main() run as one ctest test under `mpirun -np n` (label `mpi`).
function(tokenfocus_add_mpi_test name)
  cmake_parse_arguments(T "TORCH" "NP;TIMEOUT" "SOURCES;LIBS;ARGS;LABELS" ${ARGN})
  set(_torch "")
  if(T_TORCH)
    set(_torch TORCH)
  endif()
  if(NOT TARGET ${name})
    _tokenfocus_test_executable(${name} ${_torch} SOURCES ${T_SOURCES} LIBS ${T_LIBS})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name}_np${T_NP}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${TOKENFOCUS_MPIEXEC_FLAGS}
                   $<TARGET_FILE:${name}> ${T_ARGS}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${name}_np${T_NP} PROPERTIES TIMEOUT ${T_TIMEOUT} PROCESSORS ${T_NP}
                       LABELS "mpi;${T_LABELS}")
endfunction()
