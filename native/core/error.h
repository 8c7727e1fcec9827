// Errors that cross the Node-API boundary. The binding turns ArgError into a JS TypeError or
// RangeError (a caller's mistake, named by argument) and any other std::exception into a JS Error.
#pragma once
#include <stdexcept>
#include <string>

namespace amae {

struct ArgError : std::runtime_error {
  enum class Kind { Type, Range };
  Kind kind;
  ArgError(Kind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

[[noreturn]] inline void type_error(const std::string& msg) { throw ArgError(ArgError::Kind::Type, msg); }
[[noreturn]] inline void range_error(const std::string& msg) { throw ArgError(ArgError::Kind::Range, msg); }

}  // namespace amae

// Internal invariant of an op: violated only by a bug in a caller inside amae (the binding checks
// user input first), so a plain Error with the location is the right report.
#define AMAE_CHECK(cond, msg)                                                                   \
  do {                                                                                          \
    if (!(cond))                                                                                \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + \
                               (msg));                                                          \
  } while (0)
