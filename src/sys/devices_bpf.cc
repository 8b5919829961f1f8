#include "sys/devices_bpf.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/fd.h"

namespace berth::sys::devices_bpf {
namespace {

bpf_insn ins(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

long bpf(int cmd, bpf_attr* attr) {
  return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

}  // namespace

std::vector<bpf_insn> compile(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> p;
  // r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx).
  p.push_back(ins(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));
  p.push_back(ins(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF));
  p.push_back(ins(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0));
  p.push_back(ins(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16));
  p.push_back(ins(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));
  p.push_back(ins(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));
  // The last matching rule decides: emit rules from last to first, each returning on a match.
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    const DeviceRule& r = *it;
    std::vector<bpf_insn> block;
    // Jumps use a placeholder offset fixed once the block length is known.
    std::vector<size_t> jumps;
    if (r.type != 'a') {
      int t = r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
      jumps.push_back(block.size());
      block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, t));
    }
    int mask = 0;
    for (char c : r.access) {
      if (c == 'r') mask |= BPF_DEVCG_ACC_READ;
      if (c == 'w') mask |= BPF_DEVCG_ACC_WRITE;
      if (c == 'm') mask |= BPF_DEVCG_ACC_MKNOD;
    }
    if (mask != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
      // A request with any access bit outside the rule's does not match it.
      block.push_back(ins(BPF_ALU64 | BPF_MOV | BPF_X, 1, 3, 0, 0));
      block.push_back(ins(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, ~mask));
      jumps.push_back(block.size());
      block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0));
    }
    if (r.major >= 0) {
      jumps.push_back(block.size());
      block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, static_cast<int32_t>(r.major)));
    }
    if (r.minor >= 0) {
      jumps.push_back(block.size());
      block.push_back(ins(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, static_cast<int32_t>(r.minor)));
    }
    block.push_back(ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r.allow ? 1 : 0));
    block.push_back(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t j : jumps) block[j].off = static_cast<int16_t>(block.size() - j - 1);
    p.insert(p.end(), block.begin(), block.end());
    // A rule that matches everything ends the program: the verifier refuses unreachable code.
    if (jumps.empty()) return p;
  }
  // No rule matched: allow, as a new v1 devices cgroup inherits its parent's "a *:* rwm" (rules lists
  // start with a deny-all when they mean to restrict).
  p.push_back(ins(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
  p.push_back(ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

Result<void> attach(int cgroupFd, const std::vector<DeviceRule>& rules) {
  auto prog = compile(rules);
  static const char license[] = "Apache-2.0";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(prog.data());
  attr.insn_cnt = static_cast<uint32_t>(prog.size());
  attr.license = reinterpret_cast<uint64_t>(license);
  UniqueFd progFd(static_cast<int>(bpf(BPF_PROG_LOAD, &attr)));
  if (!progFd) return sysFail("loading the cgroup device filter");

  // Programs attached before (by an earlier `update`): detach them after attaching the new one.
  uint32_t ids[64];
  bpf_attr q{};
  q.query.target_fd = static_cast<uint32_t>(cgroupFd);
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = reinterpret_cast<uint64_t>(ids);
  q.query.prog_cnt = 64;
  uint32_t old = 0;
  if (bpf(BPF_PROG_QUERY, &q) == 0) old = q.query.prog_cnt;

  bpf_attr a{};
  a.target_fd = static_cast<uint32_t>(cgroupFd);
  a.attach_bpf_fd = static_cast<uint32_t>(progFd.get());
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &a) < 0) return sysFail("attaching the cgroup device filter");
  for (uint32_t i = 0; i < old && i < 64; ++i) {
    bpf_attr g{};
    g.prog_id = ids[i];
    UniqueFd oldFd(static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, &g)));
    if (!oldFd) continue;
    bpf_attr d{};
    d.target_fd = static_cast<uint32_t>(cgroupFd);
    d.attach_bpf_fd = static_cast<uint32_t>(oldFd.get());
    d.attach_type = BPF_CGROUP_DEVICE;
    bpf(BPF_PROG_DETACH, &d);
  }
  return {};
}

}  // namespace berth::sys::devices_bpf
