#include "data/source.h"

#include <vector>

namespace mvface::data {

int64_t classes_without_images(const Source& source) {
  std::vector<bool> seen(static_cast<size_t>(source.num_classes()), false);
  for (int64_t i = 0; i < source.size(); ++i) {
    const int64_t label = source.label(i);
    if (label >= 0 && label < source.num_classes()) seen[static_cast<size_t>(label)] = true;
  }
  int64_t missing = 0;
  for (bool s : seen) missing += s ? 0 : 1;
  return missing;
}

}  // namespace mvface::data
