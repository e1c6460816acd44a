// Replays a fuzz target without libFuzzer: every file of the corpus directories given on
// the command line, then `--random N` inputs from a fixed seed built from the corpus's
// bytes and path-like tokens. Exits non-zero (via the target's abort) on a broken invariant.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  long random_inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--random" && i + 1 < argc) {
      random_inputs = std::strtol(argv[++i], nullptr, 10);
      continue;
    }
    for (const auto& entry : std::filesystem::directory_iterator(arg)) {
      std::ifstream in(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  for (const std::string& s : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  static const char* kTokens[] = {"/", "..", ".", ".git", "/info/refs", "/git-upload-pack",
                                  "/info/lfs", "%2e", "\\", "\x01", "a", "Z-9_", "//", ".lock",
                                  "api", "\xff", ":", " "};
  std::mt19937_64 rng(20261123);
  for (long n = 0; n < random_inputs; ++n) {
    std::string s;
    if (!corpus.empty() && rng() % 2) s = corpus[rng() % corpus.size()];
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
      if (rng() % 3 == 0 && !s.empty()) {
        s.erase(at == s.size() ? at - 1 : at, 1);
      } else if (rng() % 2) {
        s.insert(at, kTokens[rng() % std::size(kTokens)]);
      } else {
        s.insert(at, 1, static_cast<char>(rng() % 256));
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("replayed %zu corpus inputs and %ld random inputs\n", corpus.size(), random_inputs);
  return 0;
}
