// Preemption: SIGTERM and SIGUSR1 (what Slurm sends before a job's time runs out, with
// --signal=USR1@120) only set a flag; the training loop reduces it across ranks at each step
// boundary, so every rank checkpoints at the same step and exits with kExitRequeue (75).
#pragma once

namespace tokenfocus::trainer {

// Installs the handlers (async-signal-safe: they store to a sig_atomic_t and return).
void install_preemption_handlers();
// Whether a signal arrived on this process since start (or since clear_preemption()).
bool preemption_requested();
// The signal number that set the flag, 0 if none.
int preemption_signal();
void clear_preemption();

}  // namespace tokenfocus::trainer
