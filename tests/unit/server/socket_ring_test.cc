// SocketRing against real sockets (unix socket pairs): every result must read as read()'s or
// write()'s would.
#include "server/socket_ring.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/io_uring_probe.h"

namespace memtwin::server {
namespace {

// Both ends non-blocking, as the server's client sockets are.
struct SocketPair {
  SocketPair() {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0) << std::strerror(errno);
    for (int fd : fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~SocketPair() {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
  std::string Drain() const {
    std::string got;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds[1], buffer, sizeof(buffer))) > 0) got.append(buffer, n);
    return got;
  }
  int fds[2] = {-1, -1};
};

#define SKIP_WITHOUT_IO_URING()                                                             \
  if (!memtwin::testing::KernelOffersIoUring()) {                                           \
    GTEST_SKIP() << "this kernel refuses io_uring (" << std::strerror(errno)                \
                 << "); the server writes with write() there, which the other tests cover"; \
  }

std::unique_ptr<SocketRing> MakeRing() {
  auto ring = SocketRing::Create();
  if (ring == nullptr) ADD_FAILURE() << "SocketRing::Create: " << std::strerror(errno);
  return ring;
}

SocketRing::Transfer SendOf(int fd, const std::string& bytes) {
  // A send only reads the buffer.
  return SocketRing::Transfer{
      .fd = fd, .data = const_cast<char*>(bytes.data()), .size = bytes.size()};
}

TEST(SocketRingTest, EachBufferReachesItsOwnSocketWithItsLengthAsTheResult) {
  SKIP_WITHOUT_IO_URING();
  auto ring = MakeRing();
  ASSERT_NE(ring, nullptr);
  SocketPair a, b, c;
  const std::string alpha = "VALUE a 0 5\r\nalpha\r\nEND\r\n", bravo = "STORED\r\n", empty;
  std::vector<SocketRing::Transfer> sends = {SendOf(a.fds[0], alpha), SendOf(b.fds[0], bravo),
                                             SendOf(c.fds[0], empty)};
  ring->SendAll(sends);
  EXPECT_EQ(sends[0].result, static_cast<int64_t>(alpha.size()));
  EXPECT_EQ(sends[1].result, static_cast<int64_t>(bravo.size()));
  EXPECT_EQ(sends[2].result, 0);
  EXPECT_EQ(a.Drain(), alpha);
  EXPECT_EQ(b.Drain(), bravo);
  EXPECT_EQ(c.Drain(), "");
}

// A full socket must answer at once, as a non-blocking write() does, not wait for room: the
// worker's whole pass waits on this one system call.
TEST(SocketRingTest, AFullSocketAnswersEagainAtOnceAndTheOthersAreStillSent) {
  SKIP_WITHOUT_IO_URING();
  auto ring = MakeRing();
  ASSERT_NE(ring, nullptr);
  SocketPair full, open;
  const std::string chunk(64 * 1024, 'x');
  while (write(full.fds[0], chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  const std::string reply = "END\r\n";
  std::vector<SocketRing::Transfer> sends = {SendOf(full.fds[0], reply),
                                             SendOf(open.fds[0], reply)};
  ring->SendAll(sends);
  EXPECT_EQ(sends[0].result, -EAGAIN);
  EXPECT_EQ(sends[1].result, static_cast<int64_t>(reply.size()));
  EXPECT_EQ(open.Drain(), reply);
}

// A client gone away is -EPIPE without a SIGPIPE (which would end this test), a closed
// descriptor -EBADF; neither stops the sends around it.
TEST(SocketRingTest, BrokenSocketsReportTheirErrnoWithoutSignals) {
  SKIP_WITHOUT_IO_URING();
  auto ring = MakeRing();
  ASSERT_NE(ring, nullptr);
  SocketPair gone, fine;
  close(gone.fds[1]);
  gone.fds[1] = -1;
  int closed_fd = dup(fine.fds[0]);
  close(closed_fd);
  const std::string reply = "DELETED\r\n";
  std::vector<SocketRing::Transfer> sends = {SendOf(gone.fds[0], reply), SendOf(closed_fd, reply),
                                             SendOf(fine.fds[0], reply)};
  ring->SendAll(sends);
  EXPECT_EQ(sends[0].result, -EPIPE);
  EXPECT_EQ(sends[1].result, -EBADF);
  EXPECT_EQ(sends[2].result, static_cast<int64_t>(reply.size()));
  EXPECT_EQ(fine.Drain(), reply);
}

// Reads as read() would answer them: what is there (up to the room given), -EAGAIN at once on
// an empty socket, 0 when the peer has closed.
TEST(SocketRingTest, ReceivesReadLikeReadOnEachSocket) {
  SKIP_WITHOUT_IO_URING();
  auto ring = MakeRing();
  ASSERT_NE(ring, nullptr);
  SocketPair request, empty, closed;
  const std::string get = "get a b c\r\n";
  ASSERT_EQ(write(request.fds[1], get.data(), get.size()), static_cast<ssize_t>(get.size()));
  close(closed.fds[1]);
  closed.fds[1] = -1;
  char buffers[3][64];
  std::vector<SocketRing::Transfer> receives = {
      {.fd = request.fds[0], .data = buffers[0], .size = 4},
      {.fd = empty.fds[0], .data = buffers[1], .size = sizeof(buffers[1])},
      {.fd = closed.fds[0], .data = buffers[2], .size = sizeof(buffers[2])}};
  ring->ReceiveAll(receives);
  EXPECT_EQ(receives[0].result, 4);
  EXPECT_EQ(std::string(buffers[0], 4), "get ");
  EXPECT_EQ(receives[1].result, -EAGAIN);
  EXPECT_EQ(receives[2].result, 0);
  receives.resize(1);
  receives[0].size = sizeof(buffers[0]);
  ring->ReceiveAll(receives);
  EXPECT_EQ(receives[0].result, static_cast<int64_t>(get.size() - 4));
  EXPECT_EQ(std::string(buffers[0], get.size() - 4), "a b c\r\n");
}

// More sends than the ring has entries go in several batches; each still lands on its socket.
TEST(SocketRingTest, MoreSendsThanRingEntriesAreAllMade) {
  SKIP_WITHOUT_IO_URING();
  auto ring = MakeRing();
  ASSERT_NE(ring, nullptr);
  std::vector<SocketPair> pairs(300);
  std::vector<std::string> replies;
  for (size_t i = 0; i < pairs.size(); ++i) replies.push_back("reply " + std::to_string(i));
  std::vector<SocketRing::Transfer> sends;
  for (size_t i = 0; i < pairs.size(); ++i) sends.push_back(SendOf(pairs[i].fds[0], replies[i]));
  ring->SendAll(sends);
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(sends[i].result, static_cast<int64_t>(replies[i].size())) << i;
    EXPECT_EQ(pairs[i].Drain(), replies[i]) << i;
  }
}

}  // namespace
}  // namespace memtwin::server
