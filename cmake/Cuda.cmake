# CUDA code lives in native/core/cuda:
#   *.cu     kernels and cudart calls, plain pointers, no ATen: the static library mvface_cuda (nvcc).
#   host/    the ATen-facing driver (*.cpp, compiled by the C++ compiler), only with a CUDA libtorch.
# - libtorch with CUDA: mvface_cuda is built for MVFACE_CUDA_ARCHITECTURES and linked, host/*.cpp are
#   added, MVFACE_WITH_CUDA=1 is defined. The CUDA runtime is linked once, shared: the libcudart that
#   libtorch_cuda loads (a PyTorch wheel's, a libtorch folder's, the system's), whose folder goes into
#   the addon's RPATH; the toolkit's only where libtorch's cannot be found.
# - MVFACE_CUDA_COMPILE_ONLY=1 (CI, no GPU): every translation unit of the GPU build is compiled and
#   nothing of it is linked: the .cu files by nvcc, the core, host/ and the bindings with
#   MVFACE_WITH_CUDA=1 against a CUDA libtorch's headers, MVFACE_CUDA_TORCH_HEADERS (the include
#   folder of an unpacked libtorch; scripts/check-cuda-build.sh fetches Debian's libtorch-cuda-dev).
#   The addon itself stays the CPU build.
# nvcc: CMAKE_CUDA_COMPILER or CUDACXX if set, else nvcc on PATH, in CUDA_HOME or /usr/local/cuda.
# Architectures: MVFACE_CUDA_ARCHITECTURES (default "80;90").
file(GLOB MVFACE_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/*.cu)
file(GLOB MVFACE_CUDA_HOST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/host/*.cpp)
# The GPU check of the fused batch norm (scripts/gpu-check.sh): not part of the addon.
set(MVFACE_CUDA_CHECK_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/checks/check_norm_cuda.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/checks/norm_checks.cpp)
set(MVFACE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures of the mvface kernels")

macro(mvface_find_nvcc)
  if(NOT CMAKE_CUDA_COMPILER AND "$ENV{CUDACXX}" STREQUAL "")
    find_program(MVFACE_NVCC nvcc HINTS "$ENV{CUDA_HOME}/bin" /usr/local/cuda/bin)
    if(NOT MVFACE_NVCC)
      message(FATAL_ERROR "mvface: CUDA is on but nvcc was not found: put it on PATH or set CUDACXX.")
    endif()
    set(CMAKE_CUDA_COMPILER "${MVFACE_NVCC}")
  endif()
endmacro()

macro(mvface_cuda_kernels_library)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  mvface_find_nvcc()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  add_library(mvface_cuda STATIC ${MVFACE_CUDA_SOURCES})
  # Set on the target: a CUDA libtorch's CMake config may already have set CMAKE_CUDA_ARCHITECTURES.
  set_target_properties(mvface_cuda PROPERTIES CUDA_ARCHITECTURES "${MVFACE_CUDA_ARCHITECTURES}")
  target_include_directories(mvface_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/native/core)
  # The C++ ABI flag libtorch asks for (CMAKE_CXX_FLAGS carries it, CMAKE_CUDA_FLAGS does not).
  separate_arguments(_mvface_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(mvface_cuda PRIVATE ${_mvface_torch_flags})
endmacro()

# Links `target` to the libcudart that libtorch_cuda loads, as the dynamic loader resolves it there;
# sets MVFACE_CUDART_DIR (its folder, for the RPATH) in the caller's scope.
function(mvface_link_cudart target)
  find_library(_mvface_torch_cuda torch_cuda PATHS ${MVFACE_LIBTORCH_LIBDIR} NO_DEFAULT_PATH)
  set(_cudart "")
  if(_mvface_torch_cuda)
    execute_process(COMMAND ldd ${_mvface_torch_cuda} OUTPUT_VARIABLE _ldd ERROR_QUIET)
    if(_ldd MATCHES "libcudart[^ \t]*\\.so[^ \t]* => ([^ \t\n]+)")
      set(_cudart ${CMAKE_MATCH_1})
    endif()
  endif()
  if(_cudart)
    target_link_libraries(${target} PUBLIC ${_cudart})
    get_filename_component(_dir ${_cudart} DIRECTORY)
    set(MVFACE_CUDART_DIR ${_dir} PARENT_SCOPE)
    message(STATUS "mvface: CUDA runtime ${_cudart} (libtorch's)")
  else()
    target_link_libraries(${target} PUBLIC CUDA::cudart)
    set(MVFACE_CUDART_DIR ${CUDAToolkit_LIBRARY_DIR} PARENT_SCOPE)
    message(STATUS "mvface: CUDA runtime of the toolkit (${CUDAToolkit_LIBRARY_DIR}): libtorch_cuda's was not found")
  endif()
endfunction()

macro(mvface_add_cuda target)
  set(_compile_only "$ENV{MVFACE_CUDA_COMPILE_ONLY}")
  if(MVFACE_CUDA_SOURCES AND (MVFACE_TORCH_HAS_CUDA OR _compile_only STREQUAL "1"))
    mvface_cuda_kernels_library()
    if(MVFACE_TORCH_HAS_CUDA)
      target_sources(${target} PRIVATE ${MVFACE_CUDA_HOST_SOURCES})
      target_include_directories(${target} PUBLIC ${CUDAToolkit_INCLUDE_DIRS})
      target_link_libraries(${target} PUBLIC mvface_cuda)
      mvface_link_cudart(${target})
      target_compile_definitions(${target} PUBLIC MVFACE_WITH_CUDA=1)
      add_executable(mvface_check_norm_cuda EXCLUDE_FROM_ALL ${MVFACE_CUDA_CHECK_SOURCES})
      target_link_libraries(mvface_check_norm_cuda PRIVATE ${target})
      message(STATUS "mvface: CUDA kernels built for sm_${MVFACE_CUDA_ARCHITECTURES} and linked")
    else()
      mvface_gpu_build_check(${target})
      message(STATUS "mvface: CUDA kernels compiled only (CPU libtorch), not linked")
    endif()
  endif()
endmacro()

# The target mvface_gpu_check: the kernels, and every C++ translation unit of the GPU build (the core
# with host/, and the bindings) compiled with MVFACE_WITH_CUDA=1 against MVFACE_CUDA_TORCH_HEADERS,
# none of it linked.
macro(mvface_gpu_build_check target)
  set(_headers "$ENV{MVFACE_CUDA_TORCH_HEADERS}")
  if(NOT EXISTS "${_headers}/c10/cuda/CUDAStream.h")
    message(FATAL_ERROR "mvface: MVFACE_CUDA_COMPILE_ONLY=1 needs MVFACE_CUDA_TORCH_HEADERS, the include folder of a CUDA "
                        "libtorch (with c10/cuda/CUDAStream.h); got '${_headers}'. scripts/check-cuda-build.sh sets it.")
  endif()
  set(_includes ${CMAKE_CURRENT_SOURCE_DIR}/native/core)
  set(_system_includes ${_headers} ${_headers}/torch/csrc/api/include ${CUDAToolkit_INCLUDE_DIRS})
  set(_definitions MVFACE_WITH_CUDA=1 $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>)
  add_library(mvface_gpu_core_check OBJECT ${MVFACE_CORE_SOURCES} ${MVFACE_CUDA_HOST_SOURCES} ${MVFACE_CUDA_CHECK_SOURCES})
  target_include_directories(mvface_gpu_core_check PRIVATE ${_includes})
  target_include_directories(mvface_gpu_core_check SYSTEM PRIVATE ${_system_includes})
  target_compile_definitions(mvface_gpu_core_check PRIVATE ${_definitions})
  target_compile_options(mvface_gpu_core_check PRIVATE -O0 -fopenmp-simd -Wall -Wno-unused-parameter -Wno-psabi)
  add_library(mvface_gpu_bindings_check OBJECT ${MVFACE_BINDING_SOURCES})
  target_include_directories(mvface_gpu_bindings_check PRIVATE ${_includes} ${CMAKE_JS_INC} ${NODE_ADDON_API_DIR})
  target_include_directories(mvface_gpu_bindings_check SYSTEM PRIVATE ${_system_includes})
  target_compile_definitions(mvface_gpu_bindings_check PRIVATE ${_definitions} NAPI_VERSION=8
    NODE_ADDON_API_CPP_EXCEPTIONS NODE_ADDON_API_CPP_EXCEPTIONS_ALL MVFACE_VERSION="${MVFACE_VERSION}")
  target_compile_options(mvface_gpu_bindings_check PRIVATE -O0 -Wall -Wno-unused-parameter)
  add_custom_target(mvface_gpu_check)
  add_dependencies(mvface_gpu_check mvface_cuda mvface_gpu_core_check mvface_gpu_bindings_check)
endmacro()
