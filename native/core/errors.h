#pragma once
// Errors raised by mvface's native core. Each carries a stable code (E_SHAPE, E_LABEL, ...) and the
// name of the argument at fault; the bindings turn them into MvfaceError subclasses in JS.
#include <stdexcept>
#include <string>

namespace mvface {

class Error : public std::runtime_error {
 public:
  Error(std::string code, std::string argument, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)), argument_(std::move(argument)) {}
  const std::string& code() const { return code_; }
  const std::string& argument() const { return argument_; }

 private:
  std::string code_;
  std::string argument_;
};

[[noreturn]] inline void fail(const std::string& code, const std::string& argument, const std::string& message) {
  throw Error(code, argument, argument.empty() ? message : argument + ": " + message);
}

}  // namespace mvface
