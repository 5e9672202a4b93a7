// What the C++ files of the FReLU kernels share: the ISA builds of their row code,
// the vector types, the widest kernel, a test for rows inside the image and the loop
// over a pixel's taps.
#pragma once
#include <cstdint>

// GCC on x86-64: an AVX2+FMA clone of the row kernel besides the baseline one,
// chosen by the CPU's features when the library is loaded; and an AVX-512 build of it
// (FRELU_WIDE) whose strips run 16 lanes wide, used where the CPU has AVX-512
// (measured on the FReLU sites of a ResNet-50's layer1-3 at b8 224, in place: the
// time over ReLU's relu_ 9.1-10.5 ms -> 7.0-7.4 ms). FRELU_NARROW: the AVX2+FMA build
// of code that runs only where the CPU has it (fused_frelu.cpp's groups of rows).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FRELU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define FRELU_WIDE __attribute__((target("arch=x86-64-v4")))
#define FRELU_NARROW __attribute__((target("arch=x86-64-v3")))
#define FRELU_ISA_BUILDS 1
#else
#define FRELU_CLONES
#define FRELU_ISA_BUILDS 0
#endif

// 8 floats; GCC lowers it to two SSE registers on the baseline ISA, one AVX register
// in the AVX2 clone. aligned(4): loads and stores need no alignment.
typedef float v8 __attribute__((vector_size(32), aligned(4)));

// Vectors of L floats for the code written for either width: 8, or 16 (one AVX-512
// register, in the wide build's strips of inner pixels). A template parameter must be
// the lane count, not the vector type: GCC drops aligned(4) from a type passed as a
// template argument, and its loads and stores would then demand 32- or 64-byte alignment.
template <int L> struct Vec;
template <> struct Vec<8> { typedef v8 type; };
template <> struct Vec<16> { typedef float type __attribute__((vector_size(64), aligned(4))); };

constexpr int MAXK = 15;  // widest kernel handled (row pointers on the stack)

inline bool inside(int64_t h, int64_t H) { return h >= 0 && h < H; }

// f(dy, dx, col) for each tap of pixel w of a row, col = w + dx - p its column; EDGE:
// the taps whose column lies outside the row are skipped (the zero padding)
template <bool EDGE, typename F>
__attribute__((always_inline)) inline void taps(int kk, int64_t W, int64_t w, F f) {
  const int p = kk / 2;
#pragma GCC unroll 8
  for (int dy = 0; dy < kk; ++dy)
#pragma GCC unroll 8
    for (int dx = 0; dx < kk; ++dx) {
      const int64_t col = w + dx - p;
      if (EDGE && (col < 0 || col >= W)) continue;
      f(dy, dx, col);
    }
}

// Whether the rows run 16 lanes wide (AVX-512) now (fused_frelu.cpp).
bool wide_rows();
