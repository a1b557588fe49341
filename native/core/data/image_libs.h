#pragma once
// libjpeg and libpng, opened when the first image of their kind is decoded instead of linked: the
// addon then loads where they are not installed (Debian 13's libtorch-dev does not bring them in),
// and a decode says which one to install.
#include <cstddef>
#include <cstdio>

#include <png.h>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

namespace mvface::data {

struct JpegLib {
  decltype(&::jpeg_std_error) std_error;
  decltype(&::jpeg_CreateDecompress) create_decompress;
  decltype(&::jpeg_mem_src) mem_src;
  decltype(&::jpeg_read_header) read_header;
  decltype(&::jpeg_start_decompress) start_decompress;
  decltype(&::jpeg_read_scanlines) read_scanlines;
  decltype(&::jpeg_finish_decompress) finish_decompress;
  decltype(&::jpeg_destroy_decompress) destroy_decompress;
};

struct PngLib {
  decltype(&::png_image_begin_read_from_memory) begin_read_from_memory;
  decltype(&::png_image_finish_read) finish_read;
  decltype(&::png_image_free) free;
};

// The library with the soname found at build time, opened once (thread-safe); E_LIBRARY_MISSING
// naming it and its Debian package where it is not installed.
const JpegLib& jpeg_lib();
const PngLib& png_lib();

}  // namespace mvface::data
