// SPDX-License-Identifier: MIT
// The self-containment check is in compiling the library next to this; running it is a no-op.
int main() { return 0; }
