# Finds libtorch in the order the README documents and records where it came from:
#   MVFACE_LIBTORCH_SOURCE  "LIBTORCH" | "pytorch" | "system"
#   MVFACE_LIBTORCH_TAG     e.g. "torch1_13_0_cpu", the prebuild tag that pins the binary to its libtorch
#   MVFACE_LIBTORCH_LIBDIR  the folder holding libtorch.so (used as RPATH)
macro(mvface_find_libtorch)
  if(DEFINED ENV{LIBTORCH} AND NOT "$ENV{LIBTORCH}" STREQUAL "")
    set(MVFACE_LIBTORCH_SOURCE "LIBTORCH")
    list(PREPEND CMAKE_PREFIX_PATH "$ENV{LIBTORCH}")
  elseif("$ENV{LIBTORCH_USE_PYTORCH}" STREQUAL "1")
    set(MVFACE_LIBTORCH_SOURCE "pytorch")
    find_program(MVFACE_PYTHON NAMES python3 python REQUIRED)
    execute_process(
      COMMAND ${MVFACE_PYTHON} -c "import torch; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE MVFACE_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE MVFACE_PY_RESULT)
    if(NOT MVFACE_PY_RESULT EQUAL 0)
      message(FATAL_ERROR "mvface: LIBTORCH_USE_PYTORCH=1 but '${MVFACE_PYTHON} -c \"import torch\"' failed. Install PyTorch or unset LIBTORCH_USE_PYTORCH.")
    endif()
    list(PREPEND CMAKE_PREFIX_PATH "${MVFACE_TORCH_PREFIX}")
  else()
    set(MVFACE_LIBTORCH_SOURCE "system")
  endif()

  find_package(Torch QUIET)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR
      "mvface: libtorch not found (source: ${MVFACE_LIBTORCH_SOURCE}; searched: ${CMAKE_PREFIX_PATH}).\n"
      "  ${Torch_NOT_FOUND_MESSAGE}\n"
      "  Debian/Ubuntu: apt-get install libtorch-dev libgloo-dev libopenblas0-pthread\n"
      "  or set LIBTORCH=/path/to/libtorch, or LIBTORCH_USE_PYTORCH=1 with PyTorch installed.")
  endif()

  # Torch's config turns on -D_GLIBCXX_USE_CXX11_ABI via TORCH_CXX_FLAGS; keep it.
  set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
  get_filename_component(MVFACE_LIBTORCH_LIBDIR "${TORCH_LIBRARY}" DIRECTORY)

  set(MVFACE_TORCH_HAS_CUDA OFF)
  if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
    set(MVFACE_TORCH_HAS_CUDA ON)
  endif()

  set(_flavour cpu)
  if(MVFACE_TORCH_HAS_CUDA)
    set(_flavour cuda)
  endif()
  string(REPLACE "." "_" _ver "${Torch_VERSION}")
  set(MVFACE_LIBTORCH_TAG "torch${_ver}_${MVFACE_LIBTORCH_SOURCE}_${_flavour}")
  string(TOLOWER "${MVFACE_LIBTORCH_TAG}" MVFACE_LIBTORCH_TAG)
  file(WRITE "${CMAKE_BINARY_DIR}/libtorch.txt"
    "libtorch ${Torch_VERSION} from ${MVFACE_LIBTORCH_SOURCE} (${MVFACE_LIBTORCH_LIBDIR}), CUDA: ${MVFACE_TORCH_HAS_CUDA}\n")
  message(STATUS "mvface: libtorch ${Torch_VERSION} from ${MVFACE_LIBTORCH_SOURCE} (${MVFACE_LIBTORCH_LIBDIR}), CUDA: ${MVFACE_TORCH_HAS_CUDA}, tag ${MVFACE_LIBTORCH_TAG}")
endmacro()
