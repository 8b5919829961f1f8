// berth-shim: the parent of one container (src/shim).
#include "shim/run.h"

int main(int argc, char** argv) {
  return berth::shim::run(argc, argv);
}
