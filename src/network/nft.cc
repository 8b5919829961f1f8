#include "network/nft.h"

#include <nftables/libnftables.h>

#include <memory>
#include <mutex>

namespace berth::network::nft {

std::string ruleset(const std::string& table, const std::vector<BridgeRules>& bridges,
                    const std::vector<PortRule>& ports) {
  std::string out = "table ip " + table + " {\n";
  out += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (auto& b : bridges) {
    if (b.masquerade)
      out += "    ip saddr " + b.subnet.str() + " oifname != \"" + b.bridge + "\" masquerade\n";
    if (!ports.empty()) {
      out += "    oifname \"" + b.bridge + "\" ip saddr 127.0.0.0/8 masquerade\n";
      out += "    oifname \"" + b.bridge + "\" ip saddr " + b.subnet.str() + " ct status dnat masquerade\n";
    }
  }
  out += "  }\n";
  out += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  if (bridges.size() > 1) {
    std::string all;
    for (auto& b : bridges) all += (all.empty() ? "" : ", ") + ("\"" + b.bridge + "\"");
    for (auto& b : bridges)
      out +=
          "    iifname \"" + b.bridge + "\" oifname != \"" + b.bridge + "\" oifname { " + all + " } drop\n";
  }
  out += "  }\n";
  if (!ports.empty()) {
    out += "  chain publish {\n";
    for (auto& p : ports) {
      out += "    ";
      if (p.hostIp.value) out += "ip daddr " + p.hostIp.str() + " ";
      out += p.proto + " dport " + std::to_string(p.hostPort) + " dnat to " + p.containerIp.str() + ":" +
             std::to_string(p.containerPort) + "\n";
    }
    out += "  }\n";
    out +=
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
        "    fib daddr type local jump publish\n  }\n";
    out +=
        "  chain output {\n    type nat hook output priority -100; policy accept;\n"
        "    fib daddr type local jump publish\n  }\n";
  }
  out += "}\n";
  return out;
}

Result<void> run(const std::string& commands) {
  // One context per call: libnftables keeps a cache of the kernel's ruleset per context; ours would go
  // stale between calls.
  static std::mutex m;  // the library is not documented as thread-safe
  std::lock_guard lock(m);
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) return fail("nftables: cannot make a context");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (nft_run_cmd_from_buffer(ctx.get(), commands.c_str()) != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx.get());
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return fail("nftables: " + (err.empty() ? std::string("the commands failed") : err));
  }
  return {};
}

Result<void> apply(const std::string& table, const std::vector<BridgeRules>& bridges,
                   const std::vector<PortRule>& ports) {
  if (bridges.empty() && ports.empty()) return removeTable(table);
  // "add" first makes the "delete" valid when the table does not exist yet; all of it is one transaction.
  return run("add table ip " + table + "\ndelete table ip " + table + "\n" + ruleset(table, bridges, ports));
}

Result<void> removeTable(const std::string& table) {
  return run("add table ip " + table + "\ndelete table ip " + table + "\n");
}

}  // namespace berth::network::nft
