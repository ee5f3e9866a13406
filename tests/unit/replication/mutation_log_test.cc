#include "replication/mutation_log.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "replication/wire.h"

namespace memtwin::replication {
namespace {

storage::Mutation SetOf(const std::string& key, const std::string& value, uint64_t version) {
  storage::Mutation m;
  m.key = key;
  m.value = value;
  m.version = version;
  return m;
}

// Decodes every frame in `bytes` into "key@version" strings.
std::vector<std::string> Render(const std::string& bytes) {
  std::vector<std::string> out;
  std::string_view rest = bytes;
  while (!rest.empty()) {
    Frame f;
    std::string error;
    if (DecodeFrame(rest, 1 << 20, &f, &error) != DecodeStatus::kOk) {
      out.push_back("ERROR");
      break;
    }
    out.push_back(std::string(f.mutation.key) + "@" + std::to_string(f.mutation.version));
    rest.remove_prefix(f.size);
  }
  return out;
}

TEST(MutationLogTest, RecordsNothingUntilEnabled) {
  MutationLog log(4096, nullptr);
  log.OnMutation(SetOf("a", "1", 1));
  EXPECT_EQ(log.head(), 0u);
  log.Enable(true);
  log.OnMutation(SetOf("b", "2", 2));
  uint64_t offset = 0;
  std::string out;
  ASSERT_EQ(log.Read(&offset, 1 << 20, &out), MutationLog::ReadResult::kOk);
  EXPECT_EQ(Render(out), (std::vector<std::string>{"b@2"}));
  EXPECT_EQ(offset, log.head());
}

TEST(MutationLogTest, ReadsWholeFramesInOrderAcrossTheRingsWrapPoint) {
  MutationLog log(200, nullptr);
  log.Enable(true);
  uint64_t offset = 0;
  std::vector<std::string> seen, expected;
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key" + std::to_string(i);
    log.OnMutation(SetOf(key, std::string(static_cast<size_t>(i % 7), 'v'), i));
    expected.push_back(key + "@" + std::to_string(i));
    std::string out;
    ASSERT_EQ(log.Read(&offset, 60, &out), MutationLog::ReadResult::kOk);
    for (auto& s : Render(out)) seen.push_back(s);
  }
  EXPECT_EQ(seen, expected);
}

TEST(MutationLogTest, AReaderLeftBehindIsToldToResyncAndMemoryStaysBounded) {
  MutationLog log(256, nullptr);
  log.Enable(true);
  uint64_t offset = log.head();
  for (int i = 0; i < 100; ++i) log.OnMutation(SetOf("k" + std::to_string(i), "value", i));
  EXPECT_LE(log.used(), 256u);
  std::string out;
  EXPECT_EQ(log.Read(&offset, 1 << 20, &out), MutationLog::ReadResult::kTruncated);
  EXPECT_TRUE(out.empty());
  // Whatever is left in the ring is whole, newest frames.
  offset = log.head() - log.used();
  ASSERT_EQ(log.Read(&offset, 1 << 20, &out), MutationLog::ReadResult::kOk);
  const auto frames = Render(out);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back(), "k99@99");
}

TEST(MutationLogTest, AFrameLargerThanTheLogTruncatesEveryReader) {
  MutationLog log(128, nullptr);
  log.Enable(true);
  uint64_t offset = log.head();
  log.OnMutation(SetOf("big", std::string(500, 'x'), 1));
  std::string out;
  EXPECT_EQ(log.Read(&offset, 1 << 20, &out), MutationLog::ReadResult::kTruncated);
}

TEST(MutationLogTest, WakeupFiresOncePerArm) {
  std::atomic<int> wakeups{0};
  MutationLog log(4096, [&] { wakeups.fetch_add(1); });
  log.Enable(true);
  log.OnMutation(SetOf("a", "1", 1));
  log.OnMutation(SetOf("b", "2", 2));
  EXPECT_EQ(wakeups.load(), 1);
  log.Arm();
  log.OnMutation(SetOf("c", "3", 3));
  EXPECT_EQ(wakeups.load(), 2);
}

TEST(MutationLogTest, ConcurrentWritersLoseNothingWhileTheReaderKeepsUp) {
  MutationLog log(1 << 20, nullptr);
  log.Enable(true);
  constexpr int kThreads = 4, kPerThread = 5000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        log.OnMutation(SetOf("t" + std::to_string(t), "v", static_cast<uint64_t>(i)));
      }
    });
  }
  for (auto& w : writers) w.join();
  uint64_t offset = 0;
  std::string out;
  ASSERT_EQ(log.Read(&offset, 1 << 30, &out), MutationLog::ReadResult::kOk);
  const auto frames = Render(out);
  EXPECT_EQ(frames.size(), static_cast<size_t>(kThreads * kPerThread));
  // Each writer's own mutations stay in its order.
  std::vector<int> next(kThreads, 0);
  for (const std::string& f : frames) {
    const int t = f[1] - '0';
    ASSERT_EQ(f, "t" + std::to_string(t) + "@" + std::to_string(next[t]++));
  }
}

}  // namespace
}  // namespace memtwin::replication
