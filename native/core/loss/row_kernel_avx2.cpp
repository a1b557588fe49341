// Compiled with -mavx2 -mfma (CMakeLists.txt); called only where the CPU has both.
#define MVFACE_ISA avx2
#include "loss/row_kernel_simd.inc"
