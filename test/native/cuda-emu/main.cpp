// Runs the registered families' checks: `emu_test <family>...` (all when none is named),
// `emu_test --list` prints the registered families. Exit status 1 when any check failed.
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <map>
#include <stdexcept>

#include "harness.h"

namespace emu_test {

std::mt19937 rng(12345);
int failures = 0, checks = 0;

F rnd(int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  F v(size_t(n > 0 ? n : 0));
  for (auto& x : v) x = d(rng);
  return v;
}
F nans(int64_t n) { return F(size_t(n > 0 ? n : 0), NAN); }
I rnd_int(int64_t n, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  I v(size_t(n > 0 ? n : 0));
  for (auto& x : v) x = d(rng);
  return v;
}

std::string fmt(const char* f, ...) {
  char b[512];
  va_list a;
  va_start(a, f);
  std::vsnprintf(b, sizeof b, f, a);
  va_end(a);
  return b;
}

static void report(const std::string& what, bool ok, const std::string& detail) {
  ++checks;
  if (!ok) ++failures;
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : "  ", detail.c_str());
}

void cmp(const std::string& what, const F& got, const F& want, double tol, double floor) {
  if (got.size() != want.size()) return report(what, false, fmt("size %zu vs %zu", got.size(), want.size()));
  double worst = 0;
  int64_t at = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const float a = got[i], b = want[i];
    double e;
    if (std::isnan(b) || std::isnan(a)) e = std::isnan(a) && std::isnan(b) ? 0 : INFINITY;
    else if (std::isinf(b) || std::isinf(a)) e = a == b ? 0 : INFINITY;
    else if (tol == 0) e = std::memcmp(&a, &b, 4) == 0 ? 0 : INFINITY;
    else e = std::fabs(double(a) - b) / (floor + std::fabs(b));
    if (e > worst || (at < 0 && e > tol)) {
      worst = e;
      at = int64_t(i);
    }
  }
  const bool ok = worst <= tol;
  report(what, ok, ok ? fmt("(n %zu, worst rel %.1e)", got.size(), worst)
                      : fmt("(n %zu) worst rel %.2e at %ld: %.9g vs %.9g", got.size(), worst, long(at), got[at], want[at]));
}

void cmp(const std::string& what, const I& got, const I& want) {
  if (got.size() != want.size()) return report(what, false, fmt("size %zu vs %zu", got.size(), want.size()));
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) return report(what, false, fmt("at %zu: %d vs %d", i, got[i], want[i]));
  report(what, true, fmt("(n %zu, exact)", got.size()));
}

void cmp(const std::string& what, double got, double want, double tol) {
  cmp(what, F{float(got)}, F{float(want)}, tol);
}

void expect(const std::string& what, bool ok, const std::string& detail) { report(what, ok, detail); }

void run(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    report(what, false, std::string("threw: ") + e.what());
  }
}

static std::map<std::string, void (*)()>& registry() {
  static std::map<std::string, void (*)()> r;
  return r;
}
Family::Family(const char* n, void (*f)()) : name(n), fn(f) { registry()[n] = f; }

}  // namespace emu_test

int main(int argc, char** argv) {
  using namespace emu_test;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc > 1 && std::strcmp(argv[1], "--list") == 0) {
    for (auto& [n, f] : registry()) std::printf("%s\n", n.c_str());
    return 0;
  }
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) names.push_back(argv[i]);
  if (names.empty())
    for (auto& [n, f] : registry()) names.push_back(n);
  for (const auto& n : names) {
    auto it = registry().find(n);
    if (it == registry().end()) {
      std::printf("FAIL no family %s\n", n.c_str());
      ++failures;
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const long long l0 = emu::launches, th0 = emu::threads_run;
    it->second();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("family %s%s: %.1f s, %lld launches, %lld CUDA threads\n", n.c_str(),
                emu::grid_cap == 65535 ? "" : " (EMU_SMALL)", s, emu::launches - l0, emu::threads_run - th0);
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures != 0;
}
