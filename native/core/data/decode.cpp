#include "data/decode.h"

#include <zlib.h>

#include <csetjmp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/image_libs.h"
// After jpeglib.h, which image_libs.h includes.
#include <jerror.h>

#include "errors.h"

namespace mvface::data {
namespace {

struct JpegErrors {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// A truncated file is only a warning to libjpeg (it pads with grey); here it is an error.
void jpeg_emit_message(j_common_ptr info, int level) {
  if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(info);
}

// Plain C control flow only between setjmp and longjmp: `out` is owned by the caller.
bool decode_jpeg_into(const JpegLib& jpeg, const uint8_t* bytes, size_t size, int channels, Image* out, char* message) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  info.err = jpeg.std_error(&errors.base);
  errors.base.error_exit = jpeg_error_exit;
  errors.base.emit_message = jpeg_emit_message;
  if (setjmp(errors.jump)) {
    std::memcpy(message, errors.message, JMSG_LENGTH_MAX);
    jpeg.destroy_decompress(&info);
    return false;
  }
  jpeg.create_decompress(&info, JPEG_LIB_VERSION, sizeof(info));
  jpeg.mem_src(&info, const_cast<unsigned char*>(bytes), static_cast<unsigned long>(size));
  jpeg.read_header(&info, TRUE);
  info.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg.start_decompress(&info);
  out->height = info.output_height;
  out->width = info.output_width;
  out->channels = channels;
  out->pixels.resize(static_cast<size_t>(out->height * out->width * channels));
  const size_t stride = static_cast<size_t>(out->width) * channels;
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out->pixels.data() + info.output_scanline * stride;
    jpeg.read_scanlines(&info, &row, 1);
  }
  jpeg.finish_decompress(&info);
  jpeg.destroy_decompress(&info);
  return true;
}

Image decode_jpeg(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  Image image;
  char message[JMSG_LENGTH_MAX] = {0};
  if (!decode_jpeg_into(jpeg_lib(), bytes, size, channels, &image, message))
    fail("E_IO", name, std::string("corrupt JPEG: ") + message);
  return image;
}

Image decode_png(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  const PngLib& lib = png_lib();
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!lib.begin_read_from_memory(&png, bytes, size)) fail("E_IO", name, std::string("corrupt PNG: ") + png.message);
  png.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image{png.height, png.width, channels, {}};
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!lib.finish_read(&png, nullptr, image.pixels.data(), 0, nullptr)) {
    std::string message = png.message;
    lib.free(&png);
    fail("E_IO", name, "corrupt PNG: " + message);
  }
  return image;
}

bool starts_with(const uint8_t* bytes, size_t size, std::initializer_list<uint8_t> magic) {
  return size >= magic.size() && std::equal(magic.begin(), magic.end(), bytes);
}

}  // namespace

void check_channels(int64_t channels) {
  if (channels != 1 && channels != 3) fail("E_CONFIG", "channels", "must be 1 or 3, got " + std::to_string(channels));
}

std::vector<uint8_t> read_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) fail("E_IO", path, "is a folder, expected a file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail("E_IO", path, "cannot open the file (missing or unreadable)");
  std::vector<uint8_t> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    fail("E_IO", path, "read error");
  return bytes;
}

std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name) {
  if (!starts_with(bytes.data(), bytes.size(), {0x1f, 0x8b})) return bytes;
  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) fail("E_IO", name, "zlib init failed");
  std::vector<uint8_t> out(bytes.size() * 4 + 1024);
  z.next_in = bytes.data();
  z.avail_in = static_cast<uInt>(bytes.size());
  int status;
  for (;;) {
    if (z.total_out == out.size()) out.resize(out.size() * 2);
    z.next_out = out.data() + z.total_out;
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    status = inflate(&z, Z_NO_FLUSH);
    const bool output_full = status == Z_BUF_ERROR && z.avail_out == 0;
    if (status != Z_OK && !output_full) break;  // the end, an error, or input that ended early
  }
  out.resize(z.total_out);
  inflateEnd(&z);
  if (status != Z_STREAM_END) fail("E_IO", name, "corrupt or truncated gzip data");
  return out;
}

Image decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name) {
  if (starts_with(bytes, size, {0xff, 0xd8, 0xff})) return decode_jpeg(bytes, size, channels, name);
  if (starts_with(bytes, size, {0x89, 'P', 'N', 'G'})) return decode_png(bytes, size, channels, name);
  fail("E_IO", name, "not a JPEG or PNG image");
}

}  // namespace mvface::data
