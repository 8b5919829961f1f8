// berth-init: `docker run --init`. PID 1 of the container: starts the command as its child, forwards the
// signals it gets to it, reaps every orphan that the kernel reparents to it, and exits with the command's
// status (128 + signal when a signal ended it), as docker's tini does. Static, no allocation after start.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// Signals that stay with the init: the ones the kernel sends about the init's own children and terminal.
bool forwarded(int sig) {
  return sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP && sig != SIGTTIN && sig != SIGTTOU;
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  if (first < argc && strcmp(argv[first], "--") == 0) ++first;
  if (first >= argc) {
    fprintf(stderr, "usage: berth-init [--] command [args...]\n");
    return 2;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  pid_t child = fork();
  if (child < 0) {
    perror("berth-init: fork");
    return 1;
  }
  if (child == 0) {
    // Its own process group, in the terminal's foreground when there is one (so ^C reaches it).
    setpgid(0, 0);
    if (isatty(STDIN_FILENO)) {
      signal(SIGTTOU, SIG_IGN);
      tcsetpgrp(STDIN_FILENO, getpid());
      signal(SIGTTOU, SIG_DFL);
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execvp(argv[first], argv + first);
    fprintf(stderr, "berth-init: exec %s: %s\n", argv[first], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  setpgid(child, child);
  int status = 0;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      if (forwarded(sig)) kill(child, sig);
      continue;
    }
    // Reap everything that ended: the command and any orphan.
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p == child) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        child = -1;
      }
    }
    if (child < 0) return status;
  }
}
