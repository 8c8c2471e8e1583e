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

# libtorch: the one inside the project's pinned PyTorch wheel (.venv/, made by
# scripts/install-deps.sh from requirements.txt) unless -DTorch_DIR= names a user's own libtorch.
set(TOKENFOCUS_VENV "${PROJECT_SOURCE_DIR}/.venv" CACHE PATH
    "The project's Python environment: libtorch comes from its torch wheel, references from it")
if(NOT Torch_DIR)
  file(GLOB _venv_torch_dirs "${TOKENFOCUS_VENV}/lib/python3*/site-packages/torch/share/cmake/Torch")
  if(_venv_torch_dirs)
    list(GET _venv_torch_dirs 0 _venv_torch_dir)
    set(Torch_DIR "${_venv_torch_dir}" CACHE PATH "libtorch's CMake package" FORCE)
  endif()
endif()
# A CUDA libtorch looks for the CUDA toolkit; the wheel's default build matches /usr/local/cuda.
if(NOT CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(Torch REQUIRED)
# Whether this libtorch was built with CUDA: CUDA-only code (the NCCL communicator's stream
# handling) lives in translation units compiled only then.
set(TOKENFOCUS_TORCH_HAS_CUDA OFF)
if(TARGET c10_cuda OR TARGET torch_cuda)
  set(TOKENFOCUS_TORCH_HAS_CUDA ON)
endif()
message(STATUS "tokenfocus: libtorch ${Torch_VERSION} from ${Torch_DIR} (CUDA: ${TOKENFOCUS_TORCH_HAS_CUDA})")
# TorchConfig appends its ABI flag to CMAKE_CXX_FLAGS for every target: keep it that way, so all our
# code agrees with libtorch on the std::string ABI.

# The PyTorch wheel's libtorch.so and libtorch_cpu.so export their own statically linked copy of
# std::filesystem. Searched before libstdc++, they would take our std::filesystem calls, and that
# copy crashes (remove_all jumps to a null pointer). So libstdc++ comes first in every binary's
# list of needed libraries, and its definitions win.
add_link_options(-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state)

# libtorch's include folder ships fmt 12's headers, which would shadow Debian's fmt 9 (the one we
# link) in every translation unit that sees torch. A folder holding only a link to Debian's fmt
# headers goes first on every include path, so that all our code compiles against the fmt it links.
get_target_property(_fmt_includes fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
find_path(TOKENFOCUS_FMT_INCLUDE_DIR fmt/format.h PATHS ${_fmt_includes} NO_DEFAULT_PATH)
if(TOKENFOCUS_FMT_INCLUDE_DIR)
  set(_fmt_shim ${PROJECT_BINARY_DIR}/fmt_include)
  file(MAKE_DIRECTORY ${_fmt_shim})
  file(CREATE_LINK ${TOKENFOCUS_FMT_INCLUDE_DIR}/fmt ${_fmt_shim}/fmt SYMBOLIC)
  include_directories(BEFORE ${_fmt_shim})
endif()

# NCCL: auto-detected beside CUDA (CUDA_HOME, /usr/local/cuda) unless turned off.
set(TOKENFOCUS_HAVE_NCCL OFF)
if(NOT TOKENFOCUS_WITH_NCCL STREQUAL "OFF")
  # First the NCCL and CUDA runtime that torch's wheel loads (site-packages/nvidia/...), so that
  # one process never maps two different libnccl.so.2; then CUDA_HOME and /usr/local/cuda.
  get_filename_component(_site_packages "${Torch_DIR}/../../../.." ABSOLUTE)
  set(_cuda_roots ${_site_packages}/nvidia/nccl ${_site_packages}/nvidia/cu13
      $ENV{CUDA_HOME} $ENV{CUDA_PATH} /usr/local/cuda)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${_cuda_roots} PATH_SUFFIXES include NO_DEFAULT_PATH)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${_cuda_roots} PATH_SUFFIXES lib64 lib
               NO_DEFAULT_PATH)
  find_path(CUDART_INCLUDE_DIR cuda_runtime_api.h HINTS ${_cuda_roots} PATH_SUFFIXES include
            NO_DEFAULT_PATH)
  find_library(CUDART_LIBRARY NAMES cudart libcudart.so.13 NAMES_PER_DIR HINTS ${_cuda_roots}
               PATH_SUFFIXES lib64 lib NO_DEFAULT_PATH)
  if(NOT TOKENFOCUS_TORCH_HAS_CUDA)
    message(STATUS "tokenfocus: NCCL backend OFF (this libtorch has no CUDA)")
  elseif(NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND CUDART_INCLUDE_DIR AND CUDART_LIBRARY)
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

# Python reference stack used only by tests and benchmarks (never by the product): the .venv
# interpreter. Tests that compare against it fail, never skip, when it or a module is missing.
set(TOKENFOCUS_REFERENCE_PYTHON "${TOKENFOCUS_VENV}/bin/python" CACHE FILEPATH
    "Python with torch, transformers, peft, tokenizers, scipy, sklearn, h5py, Pillow (.venv)")
