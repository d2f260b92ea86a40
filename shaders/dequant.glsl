// On-the-fly dequantization of weight rows, for every weight type, from a buffer of 32-bit
// words (portable: needs neither 8- nor 16-bit storage).  Block layouts are kernels/quant.h's,
// byte for byte.  Include after common.glsl with WTYPE defined and binding WBIND free:
//   vec4 w_load4(uint row, uint k)   elements k..k+3 of row `row` of this chunk (k % 4 == 0)
// NF4 also needs binding WAUX (floats: 16 codes, 256-entry dynamic map, offset, then one group
// scale per 256 blocks of the whole tensor) and the push constant w_row_base (first row of the
// chunk in the whole tensor) to find a block's group.
#define WT_F32  0
#define WT_F16  1
#define WT_Q8_0 2
#define WT_Q4_0 3
#define WT_Q4_K 4
#define WT_NF4  5
#define WT_Q4_1 6
#define WT_Q5_0 7
#define WT_Q5_1 8
#define WT_Q6_K 9
#define WT_IQ4_NL 10
#define WT_BF16 11

#if WTYPE == WT_IQ4_NL   // kernels/ref/quant_ref.c's et_iq4nl_values (llama.cpp's kvalues_iq4nl)
const float IQ4NL[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                  1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
#endif

layout(std430, binding = WBIND) readonly buffer WBuf { uint wq[]; };
#if WTYPE == WT_NF4
layout(std430, binding = WAUX) readonly buffer WAux { float waux[]; };
#endif

uint w_word(uint off) {     // 4 bytes at any byte offset, little-endian
    uint s = (off & 3u) << 3, i = off >> 2;
    return s == 0u ? wq[i] : (wq[i] >> s) | (wq[i + 1u] << (32u - s));
}
uint w_byte(uint off) { return (wq[off >> 2] >> ((off & 3u) << 3)) & 0xFFu; }
float w_half(uint off) {    // off is even for every half this code reads
    return unpackHalf2x16((wq[off >> 2] >> ((off & 2u) << 3)) & 0xFFFFu).x;
}

uint w_row_bytes(uint K) {
#if WTYPE == WT_F32
    return 4u * K;
#elif WTYPE == WT_F16
    return 2u * K;
#elif WTYPE == WT_Q8_0
    return (K / 32u) * 34u;
#elif WTYPE == WT_Q4_0
    return (K / 32u) * 18u;
#elif WTYPE == WT_Q4_K
    return (K / 256u) * 144u;
#elif WTYPE == WT_NF4
    return (K / 64u) * 33u;
#elif WTYPE == WT_Q4_1
    return (K / 32u) * 20u;
#elif WTYPE == WT_Q5_0
    return (K / 32u) * 22u;
#elif WTYPE == WT_Q5_1
    return (K / 32u) * 24u;
#elif WTYPE == WT_Q6_K
    return (K / 256u) * 210u;
#elif WTYPE == WT_IQ4_NL
    return (K / 32u) * 18u;
#elif WTYPE == WT_BF16
    return 2u * K;
#endif
}

// The 4 nibbles of elements j..j+3 (j % 4 == 0) of a Q4_0-layout block whose 16 quant bytes
// start at byte qs: element j in the low nibble of byte j, element j+16 in the high one.
uvec4 w_nib4(uint qs, uint j) {
    uint q = w_word(qs + (j & 15u)) >> ((j >> 4) << 2);
    return uvec4(q & 15u, (q >> 8) & 15u, (q >> 16) & 15u, (q >> 24) & 15u);
}
// The fifth bits of elements j..j+3 of a Q5 block from its 32-bit qh at byte qh.
uvec4 w_hi4(uint qh, uint j) {
    uint h = w_word(qh) >> j;
    return uvec4(h & 1u, (h >> 1) & 1u, (h >> 2) & 1u, (h >> 3) & 1u) << 4;
}

vec4 w_load4(uint row, uint k, uint K, uint w_row_base) {
    uint rb = row * w_row_bytes(K);
#if WTYPE == WT_F32
    uint i = (rb >> 2) + k;
    return uintBitsToFloat(uvec4(wq[i], wq[i + 1u], wq[i + 2u], wq[i + 3u]));
#elif WTYPE == WT_F16
    uint i = (rb + 2u * k) >> 2;
    return vec4(unpackHalf2x16(wq[i]), unpackHalf2x16(wq[i + 1u]));
#elif WTYPE == WT_Q8_0
    uint base = rb + (k >> 5) * 34u;
    uint j = k & 31u;
    int q = int(w_word(base + 2u + j));
    return w_half(base) * vec4(bitfieldExtract(q, 0, 8), bitfieldExtract(q, 8, 8),
                               bitfieldExtract(q, 16, 8), bitfieldExtract(q, 24, 8));
#elif WTYPE == WT_Q4_0
    uint base = rb + (k >> 5) * 18u;
    uint j = k & 31u;
    uint q = w_word(base + 2u + (j & 15u)) >> ((j >> 4) << 2);
    return w_half(base) * (vec4(q & 15u, (q >> 8) & 15u, (q >> 16) & 15u, (q >> 24) & 15u) - 8.0);
#elif WTYPE == WT_Q4_K
    uint base = rb + (k >> 8) * 144u;
    uint j = k & 255u;
    uint c = j >> 6, hi = (j >> 5) & 1u, is = 2u * c + hi;
    uint sc, m;
    if (is < 4u) {
        sc = w_byte(base + 4u + is) & 63u;
        m = w_byte(base + 8u + is) & 63u;
    } else {
        uint b4 = w_byte(base + 8u + is);
        sc = (b4 & 15u) | ((w_byte(base + is) >> 6) << 4);
        m = (b4 >> 4) | ((w_byte(base + 4u + is) >> 6) << 4);
    }
    uint q = w_word(base + 16u + c * 32u + (j & 31u)) >> (hi << 2);
    float d = w_half(base) * float(sc), dm = w_half(base + 2u) * float(m);
    return d * vec4(q & 15u, (q >> 8) & 15u, (q >> 16) & 15u, (q >> 24) & 15u) - dm;
#elif WTYPE == WT_NF4
    uint blk = k >> 6;
    uint base = rb + blk * 33u;
    uint j = k & 63u;
    uint gblk = (w_row_base + row) * (K / 64u) + blk;
    float absmax = waux[16u + w_byte(base)] * waux[273u + (gblk >> 8)] + waux[272u];
    uint b0 = w_byte(base + 1u + (j >> 1)), b1 = w_byte(base + 2u + (j >> 1));
    // element 2i in the high nibble, 2i+1 in the low nibble (bitsandbytes order)
    return absmax * vec4(waux[b0 >> 4], waux[b0 & 15u], waux[b1 >> 4], waux[b1 & 15u]);
#elif WTYPE == WT_Q4_1
    uint base = rb + (k >> 5) * 20u;
    return w_half(base) * vec4(w_nib4(base + 4u, k & 31u)) + w_half(base + 2u);
#elif WTYPE == WT_Q5_0
    uint base = rb + (k >> 5) * 22u, j = k & 31u;
    return w_half(base) * (vec4(w_nib4(base + 6u, j) | w_hi4(base + 2u, j)) - 16.0);
#elif WTYPE == WT_Q5_1
    uint base = rb + (k >> 5) * 24u, j = k & 31u;
    return w_half(base) * vec4(w_nib4(base + 8u, j) | w_hi4(base + 4u, j)) + w_half(base + 2u);
#elif WTYPE == WT_Q6_K
    // ql[128] qh[64] scales[16] (int8) d: element j = 128 h + 32 g + l of the super-block has
    // its low 4 bits in ql[64 h + 32 (g & 1) + l] (high nibble when g >= 2), its high 2 bits at
    // bit 2 g of qh[32 h + l], and the scale scales[8 h + 2 g + l / 16]
    uint base = rb + (k >> 8) * 210u, j = k & 255u;
    uint h = j >> 7, g = (j >> 5) & 3u, l = j & 31u;
    uint lo = w_word(base + 64u * h + 32u * (g & 1u) + l) >> ((g >> 1) << 2);
    uint hi = w_word(base + 128u + 32u * h + l) >> (2u * g);
    ivec4 q = ivec4(uvec4(lo & 15u, (lo >> 8) & 15u, (lo >> 16) & 15u, (lo >> 24) & 15u) |
                    (uvec4(hi & 3u, (hi >> 8) & 3u, (hi >> 16) & 3u, (hi >> 24) & 3u) << 4)) - 32;
    float sc = float(bitfieldExtract(int(w_byte(base + 192u + 8u * h + 2u * g + (l >> 4))), 0, 8));
    return w_half(base + 208u) * sc * vec4(q);
#elif WTYPE == WT_IQ4_NL
    uint base = rb + (k >> 5) * 18u;
    uvec4 n = w_nib4(base + 2u, k & 31u);
    return w_half(base) * vec4(IQ4NL[n.x], IQ4NL[n.y], IQ4NL[n.z], IQ4NL[n.w]);
#elif WTYPE == WT_BF16
    uint i = (rb + 2u * k) >> 2;
    uint a = wq[i], b = wq[i + 1u];
    return uintBitsToFloat(uvec4(a << 16, a & 0xFFFF0000u, b << 16, b & 0xFFFF0000u));
#endif
}
