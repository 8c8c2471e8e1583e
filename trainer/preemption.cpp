#include "trainer/preemption.h"

#include <csignal>

namespace tokenfocus::trainer {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_preemption_signal(int signal) {
  g_signal = signal;
}

}  // namespace

void install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads and waits continue; the loop polls the flag
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool preemption_requested() {
  return g_signal != 0;
}
int preemption_signal() {
  return g_signal;
}
void clear_preemption() {
  g_signal = 0;
}

}  // namespace tokenfocus::trainer
