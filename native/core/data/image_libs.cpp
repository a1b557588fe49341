#include "data/image_libs.h"

#include <dlfcn.h>

#include <string>

#include "errors.h"

namespace mvface::data {
namespace {

void* open_library(const char* soname, const char* package, const char* use) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    fail("E_LIBRARY_MISSING", soname,
         std::string(use) + " needs " + soname + ", which is not installed (Debian/Ubuntu: apt-get install " + package +
             ")");
  return handle;
}

template <typename Function>
void resolve(void* handle, const char* soname, const char* name, Function& function) {
  void* address = dlsym(handle, name);
  if (address == nullptr)
    fail("E_LIBRARY_MISSING", soname,
         std::string(soname) + " has no " + name + ": not the version mvface was built with");
  function = reinterpret_cast<Function>(address);
}

JpegLib open_jpeg() {
  void* h = open_library(MVFACE_JPEG_SONAME, "libjpeg62-turbo", "decoding JPEG images");
  JpegLib lib{};
  const char* so = MVFACE_JPEG_SONAME;
  resolve(h, so, "jpeg_std_error", lib.std_error);
  resolve(h, so, "jpeg_CreateDecompress", lib.create_decompress);
  resolve(h, so, "jpeg_mem_src", lib.mem_src);
  resolve(h, so, "jpeg_read_header", lib.read_header);
  resolve(h, so, "jpeg_start_decompress", lib.start_decompress);
  resolve(h, so, "jpeg_read_scanlines", lib.read_scanlines);
  resolve(h, so, "jpeg_finish_decompress", lib.finish_decompress);
  resolve(h, so, "jpeg_destroy_decompress", lib.destroy_decompress);
  return lib;
}

PngLib open_png() {
  void* h = open_library(MVFACE_PNG_SONAME, "libpng16-16 (Debian 13: libpng16-16t64)", "decoding PNG images");
  PngLib lib{};
  const char* so = MVFACE_PNG_SONAME;
  resolve(h, so, "png_image_begin_read_from_memory", lib.begin_read_from_memory);
  resolve(h, so, "png_image_finish_read", lib.finish_read);
  resolve(h, so, "png_image_free", lib.free);
  return lib;
}

}  // namespace

const JpegLib& jpeg_lib() {
  static const JpegLib lib = open_jpeg();  // a throw leaves it to the next call
  return lib;
}

const PngLib& png_lib() {
  static const PngLib lib = open_png();
  return lib;
}

}  // namespace mvface::data
