# Finds every third-party dependency once; docs/dependencies.md says why each one is here.

if(TOKENFOCUS_USE_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    # The sloppiness lets ccache cache translation units that use the precompiled torch header.
    set(_ccache ${CMAKE_COMMAND} -E env
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
        ${CCACHE_PROGRAM})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${_ccache})
    set(CMAKE_C_COMPILER_LAUNCHER ${_ccache})
    message(STATUS "tokenfocus: using ccache (${CCACHE_PROGRAM})")
  endif()
endif()

find_package(Threads REQUIRED)
# CXX: <mpi.h> in C++ pulls in Open MPI's C++ bindings, whose symbols live in libmpi_cxx.
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)
find_library(UTF8PROC_LIBRARY utf8proc REQUIRED)
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h REQUIRED)
add_library(tokenfocus::utf8proc INTERFACE IMPORTED)
target_include_directories(tokenfocus::utf8proc INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(tokenfocus::utf8proc INTERFACE ${UTF8PROC_LIBRARY})

# libtorch: Debian's libtorch-dev (CPU, 1.13) by default; a CUDA build via -DTorch_DIR=...
find_package(Torch REQUIRED)
message(STATUS "tokenfocus: libtorch ${Torch_VERSION} from ${Torch_DIR}")
# TorchConfig appends its ABI flag to CMAKE_CXX_FLAGS for every target: keep it that way, so all our
# code agrees with libtorch on the std::string ABI.

# NCCL: auto-detected beside CUDA (CUDA_HOME, /usr/local/cuda) unless turned off.
set(TOKENFOCUS_HAVE_NCCL OFF)
if(NOT TOKENFOCUS_WITH_NCCL STREQUAL "OFF")
  set(_cuda_roots $ENV{CUDA_HOME} $ENV{CUDA_PATH} /usr/local/cuda)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_cuda_roots} PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl HINTS ${_cuda_roots} PATH_SUFFIXES lib64 lib)
  find_path(CUDART_INCLUDE_DIR cuda_runtime_api.h HINTS ${_cuda_roots} PATH_SUFFIXES include)
  find_library(CUDART_LIBRARY cudart HINTS ${_cuda_roots} PATH_SUFFIXES lib64 lib)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND CUDART_INCLUDE_DIR AND CUDART_LIBRARY)
    set(TOKENFOCUS_HAVE_NCCL ON)
    add_library(tokenfocus::nccl INTERFACE IMPORTED)
    target_include_directories(tokenfocus::nccl INTERFACE ${NCCL_INCLUDE_DIR} ${CUDART_INCLUDE_DIR})
    target_link_libraries(tokenfocus::nccl INTERFACE ${NCCL_LIBRARY} ${CUDART_LIBRARY})
    message(STATUS "tokenfocus: NCCL backend ON (${NCCL_LIBRARY})")
  elseif(TOKENFOCUS_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "TOKENFOCUS_WITH_NCCL=ON but nccl.h/libnccl/cudart were not found")
  else()
    message(STATUS "tokenfocus: NCCL backend OFF (not found)")
  endif()
endif()

# Python reference stack used only by tests and benchmarks (never by the product).
set(TOKENFOCUS_REFERENCE_PYTHON "/usr/bin/python3" CACHE FILEPATH
    "Debian python3 with torch/numpy/scipy/sklearn/h5py/PIL, used by parity tests and benchmarks")
