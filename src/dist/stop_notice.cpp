// The SIGTERM note of stop_notice.h. The handler may only call
// async-signal-safe functions, so the message is formatted when a checkpoint
// is recorded, into the buffer the handler is not reading, and published by
// flipping an index.
#include "dist/stop_notice.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace masque::dist {
namespace {

char g_notice[2][2048];
volatile std::sig_atomic_t g_current = 0;
volatile std::sig_atomic_t g_rank = 0;
std::mutex g_mutex;
std::string g_last;

void on_term(int /*signal*/) {
  if (g_rank == 0) {
    const char* text = g_notice[g_current];
    ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
    (void)ignored;
  }
  _exit(143);  // 128 + SIGTERM, as if the signal had killed the process
}

void publish(const std::string& note) {
  const int next = 1 - g_current;
  std::snprintf(g_notice[next], sizeof(g_notice[next]),
                "masque: rank 0 was stopped by SIGTERM (mpirun stops every rank when one of them "
                "fails; its message says which). %s\n",
                note.c_str());
  g_current = next;
}

}  // namespace

std::string last_checkpoint_note() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_last.empty()) return "No checkpoint was written yet.";
  return "The last complete checkpoint is " + g_last +
         "; run the same command with --resume to continue from it.";
}

void note_last_checkpoint(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_last = path;
  }
  publish(last_checkpoint_note());
}

void install_stop_notice(int rank) {
  g_rank = rank;
  publish(last_checkpoint_note());
  struct sigaction action {};
  action.sa_handler = on_term;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace masque::dist
