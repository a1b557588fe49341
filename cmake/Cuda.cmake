# CUDA kernels live in native/core/cuda/*.cu.
# - libtorch with CUDA: compile them for sm_80 and sm_90 and link them into mvface_core.
# - CPU libtorch and MVFACE_CUDA_COMPILE_ONLY=1 (CI, no GPU): compile them with nvcc into an object
#   library that nothing links, so the sources stay buildable while the addon loads without CUDA.
file(GLOB MVFACE_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/native/core/cuda/*.cu)

macro(mvface_add_cuda target)
  set(_compile_only "$ENV{MVFACE_CUDA_COMPILE_ONLY}")
  if(MVFACE_CUDA_SOURCES AND (MVFACE_TORCH_HAS_CUDA OR _compile_only STREQUAL "1"))
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
    enable_language(CUDA)
    if(MVFACE_TORCH_HAS_CUDA)
      target_sources(${target} PRIVATE ${MVFACE_CUDA_SOURCES})
      target_compile_definitions(${target} PUBLIC MVFACE_WITH_CUDA=1)
      message(STATUS "mvface: CUDA kernels built for sm_${CMAKE_CUDA_ARCHITECTURES}")
    else()
      add_library(mvface_cuda_compile_check OBJECT ${MVFACE_CUDA_SOURCES})
      target_include_directories(mvface_cuda_compile_check PRIVATE native/core)
      target_compile_definitions(mvface_cuda_compile_check PRIVATE MVFACE_CUDA_STANDALONE=1)
      add_dependencies(${target} mvface_cuda_compile_check)
      message(STATUS "mvface: CUDA kernels compiled only (CPU libtorch), not linked")
    endif()
  endif()
endmacro()
