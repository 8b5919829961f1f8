/* probe: a tiny static binary run inside test containers; it reports what the container really got,
 * so tests assert on facts (crun's tests/init.c idea). One command per invocation; output is
 * "key=value" lines unless stated. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static int cat(const char* path) {
  FILE* f = fopen(path, "re");
  if (!f) {
    printf("error=%s: %s\n", path, strerror(errno));
    return 1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  fclose(f);
  return 0;
}

static int statusLines(const char** keys) {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return 1;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    for (const char** k = keys; *k; ++k) {
      size_t n = strlen(*k);
      if (!strncmp(line, *k, n) && line[n] == ':') {
        char* v = line + n + 1;
        while (*v == ' ' || *v == '\t') ++v;
        printf("%s=%s", *k, v);
      }
    }
  }
  fclose(f);
  return 0;
}

static int cmdId(void) {
  gid_t groups[256];
  int n = getgroups(256, groups);
  printf("uid=%u\ngid=%u\neuid=%u\negid=%u\ngroups=", getuid(), getgid(), geteuid(), getegid());
  for (int i = 0; i < n; ++i) printf("%s%u", i ? "," : "", groups[i]);
  printf("\numask=%03o\n", (unsigned)umask(0));
  return 0;
}

static int cmdCaps(void) {
  const char* keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", NULL};
  return statusLines(keys);
}

static int cmdNs(void) {
  const char* names[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts", NULL};
  for (const char** n = names; *n; ++n) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", *n);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len < 0) continue;
    target[len] = 0;
    printf("%s=%s\n", *n, target);
  }
  return 0;
}

static int cmdFds(void) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 1;
  int self = dirfd(d);
  struct dirent* e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len < 0) continue;
    target[len] = 0;
    printf("%d=%s\n", fd, target);
  }
  closedir(d);
  return 0;
}

static int cmdRlimits(void) {
  static const struct {
    const char* name;
    int res;
  } r[] = {{"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
           {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_STACK", RLIMIT_STACK},
           {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; ++i) {
    struct rlimit rl;
    getrlimit(r[i].res, &rl);
    printf("%s=%llu:%llu\n", r[i].name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  }
  return 0;
}

/* probe syscall NAME: tries one syscall and reports its errno (0 = allowed). */
static int cmdSyscall(const char* name) {
  long rc = -1;
  errno = 0;
  if (!strcmp(name, "getpid"))
    rc = syscall(SYS_getpid);
  else if (!strcmp(name, "mkdir")) {
    rc = syscall(SYS_mkdir, "/tmp/.probe-mkdir", 0700);
    int saved = errno;
    rmdir("/tmp/.probe-mkdir");
    errno = saved;
  } else if (!strcmp(name, "unshare"))
    rc = syscall(SYS_unshare, 0);
  else if (!strcmp(name, "chmod"))
    rc = syscall(SYS_chmod, "/", 0755);
  else if (!strcmp(name, "personality"))
    rc = syscall(SYS_personality, 0xffffffff);
  else if (!strcmp(name, "mount"))
    rc = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
  else if (!strcmp(name, "sethostname"))
    rc = syscall(SYS_sethostname, "x", 1);
  else if (!strcmp(name, "ptrace")) /* PTRACE_GETREGS of no such pid: ESRCH when allowed, EPERM when not */
    rc = syscall(SYS_ptrace, 12, 0x7ffffff0, 0, 0);
  else {
    printf("error=unknown syscall %s\n", name);
    return 2;
  }
  printf("%s=%d\n", name, rc < 0 ? errno : 0);
  return 0;
}

static int cmdStat(const char* path) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    printf("exists=0\nerrno=%d\n", errno);
    return 0;
  }
  const char* type = S_ISDIR(st.st_mode)    ? "dir"
                     : S_ISREG(st.st_mode)  ? "file"
                     : S_ISLNK(st.st_mode)  ? "symlink"
                     : S_ISCHR(st.st_mode)  ? "char"
                     : S_ISBLK(st.st_mode)  ? "block"
                     : S_ISFIFO(st.st_mode) ? "fifo"
                                            : "other";
  printf("exists=1\ntype=%s\nmode=%04o\nuid=%u\ngid=%u\nrdev=%u:%u\nsize=%lld\n", type, st.st_mode & 07777,
         st.st_uid, st.st_gid, major(st.st_rdev), minor(st.st_rdev), (long long)st.st_size);
  if (S_ISLNK(st.st_mode)) {
    char t[PATH_MAX];
    ssize_t n = readlink(path, t, sizeof t - 1);
    if (n >= 0) {
      t[n] = 0;
      printf("target=%s\n", t);
    }
  }
  return 0;
}

static int cmdWrite(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) {
    printf("write=%d\n", errno);
    return 1;
  }
  close(fd);
  printf("write=0\n");
  return 0;
}

static void onTerm(int sig) {
  (void)sig;
  _exit(143);
}

// udp-recv PORT: prints each datagram received on 0.0.0.0:PORT (busybox's nc has no UDP).
static int cmdUdpRecv(const char* port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(port));
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) < 0) {
    printf("udp-error=%d\n", errno);
    return 1;
  }
  char buf[2048];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return 1;
    fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
  }
}

// scan-root PATH SECS: for SECS seconds, looks for PATH through /proc/<pid>/root of every other process
// (an attacker in the container watching for a process whose root is still the host's); on a hit it creates
// PATH.escaped there and prints found=<pid>, else found=0.
static int cmdScanRoot(const char* path, const char* secs) {
  time_t end = time(NULL) + atoi(secs);
  pid_t self = getpid();
  char p[PATH_MAX];
  while (time(NULL) < end) {
    DIR* d = opendir("/proc");
    if (!d) return 1;
    struct dirent* e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == self) continue;
      snprintf(p, sizeof p, "/proc/%d/root%s", pid, path);
      if (access(p, F_OK) != 0) continue;
      snprintf(p, sizeof p, "/proc/%d/root%s.escaped", pid, path);
      int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) close(fd);
      printf("found=%d\n", pid);
      closedir(d);
      return 0;
    }
    closedir(d);
  }
  printf("found=0\n");
  return 0;
}

/* probe exe-writable SECS: CVE-2019-5736's second half. For SECS seconds, tries to open every other
   process's /proc/<pid>/exe for writing (O_WRONLY without O_TRUNC: nothing is written), directly and, as the
   exploit does, through O_PATH fds kept from earlier scans and reopened via /proc/self/fd once their process
   has gone (a running binary gives ETXTBSY). Prints tries=N and hits=N (0: no binary within reach). */
static int cmdExeWritable(const char* secs) {
  time_t end = time(NULL) + atoi(secs);
  pid_t self = getpid();
  char p[PATH_MAX], q[64], link[PATH_MAX];
  long hits = 0, tries = 0;
  int kept[256];
  int nkept = 0;
  while (time(NULL) < end) {
    DIR* d = opendir("/proc");
    if (!d) return 1;
    struct dirent* e;
    while ((e = readdir(d))) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == self) continue;
      snprintf(p, sizeof p, "/proc/%d/exe", pid);
      ++tries;
      int fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        ssize_t n = readlink(p, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        printf("hit=%d %s\n", pid, link);
        close(fd);
        ++hits;
      } else if (nkept < 256) {
        int path = open(p, O_PATH | O_CLOEXEC);
        if (path >= 0) kept[nkept++] = path;
      }
    }
    closedir(d);
    for (int i = 0; i < nkept; ++i) {
      snprintf(q, sizeof q, "/proc/self/fd/%d", kept[i]);
      ++tries;
      int fd = open(q, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) {
        ssize_t n = readlink(q, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        printf("hit=kept %s\n", link);
        close(fd);
        ++hits;
      }
    }
    /* Room for the next processes: the oldest half goes. */
    if (nkept == 256) {
      for (int i = 0; i < 128; ++i) close(kept[i]);
      memmove(kept, kept + 128, 128 * sizeof kept[0]);
      nkept = 128;
    }
  }
  printf("tries=%ld\nhits=%ld\n", tries, hits);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: probe id|caps|mounts|ns|cgroup|fds|rlimits|seccomp|cwd|hostname|env|"
          "syscall NAME|stat PATH|write PATH TEXT|cat PATH|echo ARGS|exit N|sleep SECS|pause|trap-term|"
          "udp-recv PORT|scan-root PATH SECS|exe-writable SECS\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* c = argv[1];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(c, "id")) return cmdId();
  if (!strcmp(c, "caps")) return cmdCaps();
  if (!strcmp(c, "mounts")) return cat("/proc/self/mountinfo");
  if (!strcmp(c, "ns")) return cmdNs();
  if (!strcmp(c, "cgroup")) return cat("/proc/self/cgroup");
  if (!strcmp(c, "fds")) return cmdFds();
  if (!strcmp(c, "rlimits")) return cmdRlimits();
  if (!strcmp(c, "seccomp")) {
    const char* keys[] = {"Seccomp", "NoNewPrivs", NULL};
    return statusLines(keys);
  }
  if (!strcmp(c, "cwd")) {
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) {
      printf("cwd-error=%d\n", errno);
      return 1;
    }
    printf("cwd=%s\n", buf);
    return 0;
  }
  if (!strcmp(c, "hostname")) {
    struct utsname u;
    uname(&u);
    printf("hostname=%s\ndomainname=%s\n", u.nodename, u.domainname);
    return 0;
  }
  if (!strcmp(c, "keyring")) {
    long id = syscall(SYS_keyctl, 0 /*KEYCTL_GET_KEYRING_ID*/, -3 /*KEY_SPEC_SESSION_KEYRING*/, 0);
    printf("session=%ld\n", id);
    return 0;
  }
  if (!strcmp(c, "env")) {
    for (char** e = environ; *e; ++e) printf("%s\n", *e);
    return 0;
  }
  if (!strcmp(c, "syscall") && argc > 2) return cmdSyscall(argv[2]);
  if (!strcmp(c, "stat") && argc > 2) return cmdStat(argv[2]);
  if (!strcmp(c, "scan-root") && argc > 3) return cmdScanRoot(argv[2], argv[3]);
  if (!strcmp(c, "exe-writable") && argc > 2) return cmdExeWritable(argv[2]);
  if (!strcmp(c, "write") && argc > 3) return cmdWrite(argv[2], argv[3]);
  if (!strcmp(c, "cat") && argc > 2) return cat(argv[2]);
  if (!strcmp(c, "echo")) {
    for (int i = 2; i < argc; ++i) printf("%s%s", i > 2 ? " " : "", argv[i]);
    printf("\n");
    return 0;
  }
  if (!strcmp(c, "exit") && argc > 2) return atoi(argv[2]);
  if (!strcmp(c, "udp-recv") && argc > 2) return cmdUdpRecv(argv[2]);
  if (!strcmp(c, "sleep") && argc > 2) {
    sleep((unsigned)atoi(argv[2]));
    return 0;
  }
  if (!strcmp(c, "pause") || !strcmp(c, "trap-term")) {
    if (!strcmp(c, "trap-term")) signal(SIGTERM, onTerm);
    printf("ready\n");
    for (;;) pause();
  }
  return usage();
}
