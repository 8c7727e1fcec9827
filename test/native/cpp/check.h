// The smallest harness for the C++ checks in this folder: each is a program whose main() calls
// expect() and ends with `return report();`, printing "ok" or the first failure.
// test/helpers/cpp.ts builds and runs them.
#pragma once
#include <cstdio>

namespace check {

inline int failures = 0;

inline void expect(bool ok, const char* what) {
  if (!ok && failures++ == 0) std::printf("FAIL: %s\n", what);
}

inline int report() {
  if (!failures) std::printf("ok\n");
  return failures ? 1 : 0;
}

}  // namespace check
