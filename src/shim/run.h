// berth-shim's program: the parent of one container (see shim.cc). cmd/berth-shim's main calls it.
#pragma once

namespace berth::shim {

int run(int argc, char** argv);

}  // namespace berth::shim
