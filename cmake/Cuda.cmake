# CUDA code lives in native/core/cuda:
#   *.cu     kernels and cudart calls, plain pointers, no ATen: the static library mvface_cuda.
#   host/    the ATen-facing driver (*.cpp, compiled by the C++ compiler), only with a CUDA libtorch.
# - libtorch with CUDA: mvface_cuda is built for sm_80 and sm_90 with a static cudart and linked into
#   the target, host/*.cpp are added to it, and MVFACE_WITH_CUDA=1 is defined.
# - CPU libtorch and MVFACE_CUDA_COMPILE_ONLY=1 (CI, no GPU): mvface_cuda is compiled and not linked;
#   host/*.cpp are compiled too where libtorch ships its c10/cuda headers. The addon stays CPU-only.
# nvcc: CMAKE_CUDA_COMPILER or CUDACXX if set, else nvcc on PATH, in CUDA_HOME or /usr/local/cuda.
# Architectures: MVFACE_CUDA_ARCHITECTURES (default "80;90").
file(GLOB MVFACE_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/*.cu)
file(GLOB MVFACE_CUDA_HOST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/host/*.cpp)
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
  set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
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
  target_link_libraries(mvface_cuda PUBLIC CUDA::cudart_static)
endmacro()

macro(mvface_add_cuda target)
  set(_compile_only "$ENV{MVFACE_CUDA_COMPILE_ONLY}")
  if(MVFACE_CUDA_SOURCES AND (MVFACE_TORCH_HAS_CUDA OR _compile_only STREQUAL "1"))
    mvface_cuda_kernels_library()
    if(MVFACE_TORCH_HAS_CUDA)
      target_sources(${target} PRIVATE ${MVFACE_CUDA_HOST_SOURCES})
      target_include_directories(${target} PUBLIC ${CUDAToolkit_INCLUDE_DIRS})
      target_link_libraries(${target} PUBLIC mvface_cuda)
      target_compile_definitions(${target} PUBLIC MVFACE_WITH_CUDA=1)
      # A shared cudart that libtorch's CMake config links in must resolve where it was found.
      target_link_options(${target} PUBLIC "LINKER:-rpath,${CUDAToolkit_LIBRARY_DIR}")
      message(STATUS "mvface: CUDA kernels built for sm_${MVFACE_CUDA_ARCHITECTURES} and linked")
    else()
      add_dependencies(${target} mvface_cuda)
      mvface_cuda_host_check(${target})
      message(STATUS "mvface: CUDA kernels compiled only (CPU libtorch), not linked")
    endif()
  endif()
endmacro()

# The ATen-facing driver against a CPU libtorch's c10/cuda headers, when it ships them: a compile
# check of host/*.cpp and of the core's CUDA branches (MVFACE_WITH_CUDA), not linked.
set(MVFACE_CUDA_BRANCH_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/backend.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/backbones/norm_act.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/norm/fused_norm.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/loss/device.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/loss/fused_cpu.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/train/trainer.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/train/trainer_graph.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/native/core/train/trainer_precision.cpp)
macro(mvface_cuda_host_check target)
  find_path(MVFACE_C10_CUDA_HEADERS c10/cuda/CUDAStream.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
  if(MVFACE_C10_CUDA_HEADERS AND MVFACE_CUDA_HOST_SOURCES)
    add_library(mvface_cuda_host_check OBJECT ${MVFACE_CUDA_HOST_SOURCES} ${MVFACE_CUDA_BRANCH_SOURCES})
    target_include_directories(mvface_cuda_host_check PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR}/native/core ${TORCH_INCLUDE_DIRS} ${CUDAToolkit_INCLUDE_DIRS})
    # Such headers come without the generated c10/cuda/impl/cuda_cmake_macros.h.
    target_compile_definitions(mvface_cuda_host_check PRIVATE C10_CUDA_NO_CMAKE_CONFIGURE_FILE MVFACE_WITH_CUDA=1
      $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>)
    target_compile_options(mvface_cuda_host_check PRIVATE -fopenmp-simd -Wall -Wno-unused-parameter)
    add_dependencies(${target} mvface_cuda_host_check)
    mvface_cuda_binding_check(${target})
  endif()
endmacro()

# The bindings' CUDA branches (the CUDA benchmarks), against node-addon-api's headers: compiled only.
set(MVFACE_CUDA_BINDING_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/native/bindings/loss_cuda_binding.cpp)
macro(mvface_cuda_binding_check target)
  add_library(mvface_cuda_binding_check OBJECT ${MVFACE_CUDA_BINDING_SOURCES})
  target_include_directories(mvface_cuda_binding_check PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/native/core
    ${TORCH_INCLUDE_DIRS} ${CUDAToolkit_INCLUDE_DIRS} ${CMAKE_JS_INC} ${NODE_ADDON_API_DIR})
  target_compile_definitions(mvface_cuda_binding_check PRIVATE C10_CUDA_NO_CMAKE_CONFIGURE_FILE MVFACE_WITH_CUDA=1
    NAPI_VERSION=8 NODE_ADDON_API_CPP_EXCEPTIONS NODE_ADDON_API_CPP_EXCEPTIONS_ALL)
  target_compile_options(mvface_cuda_binding_check PRIVATE -Wall -Wno-unused-parameter)
  add_dependencies(${target} mvface_cuda_binding_check)
endmacro()
