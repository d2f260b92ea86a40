/* Run-time choice of the kernel path: detected once from CPUID (x86) or getauxval (ARM),
 * overridable with EDGETUNE_ISA (or et_kern_set_isa in tests).  Two tables live here:
 *   et__isa_tab[isa]    the micro-kernels of each path compiled into this binary
 *   et__type_tab[type]  per weight type: its decoders and which kernel family consumes it
 * Paths are ordered: each x86 path implies the ones before it, likewise on ARM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include "kern_priv.h"
#include "ref/ref.h"

static const char *const et__isa_names[ET_ISA_COUNT] = {
    [ET_ISA_REF] = "ref", [ET_ISA_AVX2] = "avx2", [ET_ISA_AVX512] = "avx512",
    [ET_ISA_AVX512VNNI] = "avx512vnni", [ET_ISA_AVX512BF16] = "avx512bf16", [ET_ISA_AMX] = "amx",
    [ET_ISA_NEON] = "neon", [ET_ISA_NEON_DOTPROD] = "neon-dotprod",
    [ET_ISA_NEON_I8MM] = "neon-i8mm",
};

const char *et_isa_name(et_isa isa) { return isa < ET_ISA_COUNT ? et__isa_names[isa] : "?"; }

et_isa et_isa_from_name(const char *name) {
    for (int i = 0; i < ET_ISA_COUNT; i++)
        if (name && strcmp(name, et__isa_names[i]) == 0) return (et_isa)i;
    return ET_ISA_COUNT;
}

#if defined(__x86_64__)
/* AMX's tile data is an XSAVE feature Linux enables per process on request (5.16+); without
 * the grant the first tile instruction faults.  Asked once; a refusal (older kernel, a
 * sigaltstack too small for the larger signal frame) just leaves the path unavailable. */
static bool et__amx_granted(void) {
    static int granted = -1;
    if (granted < 0) {
        enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
        granted = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    }
    return granted;
}
#endif

static bool et__cpu_has(et_isa isa) {
    if (isa == ET_ISA_REF) return true;
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case ET_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case ET_ISA_AVX512:
        return et__cpu_has(ET_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq");
    case ET_ISA_AVX512VNNI: return et__cpu_has(ET_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
    case ET_ISA_AVX512BF16:
        return et__cpu_has(ET_ISA_AVX512VNNI) && __builtin_cpu_supports("avx512bf16");
    case ET_ISA_AMX:
        return et__cpu_has(ET_ISA_AVX512BF16) && __builtin_cpu_supports("amx-tile") &&
               __builtin_cpu_supports("amx-bf16") && et__amx_granted();
    default: return false;
    }
#elif defined(__aarch64__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    switch (isa) {
    case ET_ISA_NEON: return true;   /* Advanced SIMD is mandatory on aarch64 */
    case ET_ISA_NEON_DOTPROD: return (hw & (1ul << 20)) != 0;                    /* HWCAP_ASIMDDP */
    case ET_ISA_NEON_I8MM: return (hw & (1ul << 20)) && (hw2 & (1ul << 13));     /* HWCAP2_I8MM */
    default: return false;
    }
#else
    return false;
#endif
}

/* ---- per-path micro-kernels --------------------------------------------------------------- */
static et__isa_ops et__isa_tab[ET_ISA_COUNT];
static et__type_ops et__type_tab[ET_TYPE_COUNT];
static bool et__tabs_ready;

static void et__tabs_init(void) {
    if (et__tabs_ready) return;
    /* ET_ISA_REF: all NULL — the drivers fall back to kernels/ref/. */
#if defined(__x86_64__)
    et__isa_tab[ET_ISA_AVX2] = (et__isa_ops){ .qgemm = et__qgemm_avx2, .sgemm = et__sgemm_avx2,
                                             .act_unsigned = false, .qgemm_tile_t = 1 };
    /* AVX-512 without VNNI: 512-bit FMA, and the AVX2 int8 kernel */
    et__isa_tab[ET_ISA_AVX512] = (et__isa_ops){ .qgemm = et__qgemm_avx2, .sgemm = et__sgemm_avx512,
                                               .act_unsigned = false, .qgemm_tile_t = 1 };
    et__isa_tab[ET_ISA_AVX512VNNI] = (et__isa_ops){ .qgemm = et__qgemm_vnni,
                                                   .sgemm = et__sgemm_avx512,
                                                   .act_unsigned = true, .qgemm_tile_t = 4 };
    et__isa_tab[ET_ISA_AVX512BF16] = et__isa_tab[ET_ISA_AVX512VNNI];
    et__isa_tab[ET_ISA_AVX512BF16].bgemm = et__bgemm_avx512bf16;
    for (int i = ET_ISA_AVX2; i <= ET_ISA_AVX512; i++) {
        et__isa_tab[i].matvec[ET_Q8_0] = et__mv_q8_0_avx2;
        et__isa_tab[i].matvec[ET_Q4_0] = et__mv_q4_0_avx2;
    }
    et__isa_tab[ET_ISA_AVX2].peak[ET_PEAK_F32_FMA] = et__peak_fma256;
    et__isa_tab[ET_ISA_AVX2].peak[ET_PEAK_INT8_DOT] = et__peak_int8_avx2;
    for (int i = ET_ISA_AVX512; i <= ET_ISA_AVX512BF16; i++) {
        et__isa_tab[i].matvec[ET_NF4] = et__mv_nf4_avx512;
        et__isa_tab[i].matvec[ET_F32] = et__mv_f32_avx512;
        et__isa_tab[i].matvec[ET_F16] = et__mv_f16_avx512;
        et__isa_tab[i].matvec[ET_BF16] = et__mv_bf16_avx512;
        et__isa_tab[i].peak[ET_PEAK_F32_FMA] = et__peak_fma512;
        et__isa_tab[i].rowdot = et__rowdot_avx512;
        et__isa_tab[i].pack_t = et__pack_t_avx512;
        et__isa_tab[i].to_bf16 = et__to_bf16_avx512;
        et__isa_tab[i].bf16_pairs = et__bf16_pairs_avx512;
        et__isa_tab[i].split_bf16 = et__split_bf16_avx512;
        et__isa_tab[i].read = et__read_avx512;
        et__isa_tab[i].peak[ET_PEAK_INT8_DOT] = i == ET_ISA_AVX512 ? et__peak_int8_avx2
                                                                    : et__peak_vnni512;
    }
    et__isa_tab[ET_ISA_AVX512BF16].peak[ET_PEAK_BF16_DOT] = et__peak_bf16_512;
    et__isa_tab[ET_ISA_AVX512BF16].matvec[ET_BF16] = et__mv_bf16_bf16;
    for (int i = ET_ISA_AVX512VNNI; i <= ET_ISA_AVX512BF16; i++) {
        et__isa_tab[i].matvec[ET_Q8_0] = et__mv_q8_0_vnni;
        et__isa_tab[i].matvec[ET_NF4] = et__mv_nf4_vnni;
        et__isa_tab[i].matvec[ET_Q4_0] = et__mv_q4_0_vnni;
        et__isa_tab[i].matvec[ET_Q4_K] = et__mv_q4_k_vnni;
        et__isa_tab[i].matvec[ET_Q4_1] = et__mv_q4_1_vnni;
        et__isa_tab[i].matvec[ET_Q6_K] = et__mv_q6_k_vnni;
        et__isa_tab[i].matvec[ET_IQ4_NL] = et__mv_iq4_nl_vnni;
        et__isa_tab[i].matvec[ET_Q5_0] = et__mv_q5_0_vnni;
        et__isa_tab[i].matvec[ET_Q5_1] = et__mv_q5_1_vnni;
    }
    /* AMX: the AVX512-BF16 path, the bf16 family's products in tiles (matvec stays vector) */
    et__isa_tab[ET_ISA_AMX] = et__isa_tab[ET_ISA_AVX512BF16];
    et__isa_tab[ET_ISA_AMX].bgemm = et__bgemm_amx;
    et__isa_tab[ET_ISA_AMX].bgemm_x3 = true;
    et__isa_tab[ET_ISA_AMX].peak[ET_PEAK_BF16_DOT] = et__peak_amx_bf16;
#elif defined(__aarch64__)
    et__isa_tab[ET_ISA_NEON] = (et__isa_ops){ .qgemm = et__qgemm_neon, .sgemm = et__sgemm_neon,
                                             .act_unsigned = false, .qgemm_tile_t = 1 };
    et__isa_tab[ET_ISA_NEON].peak[ET_PEAK_F32_FMA] = et__peak_fma_neon;
    et__isa_tab[ET_ISA_NEON_DOTPROD] = et__isa_tab[ET_ISA_NEON];
    et__isa_tab[ET_ISA_NEON_DOTPROD].qgemm = et__qgemm_sdot;
    et__isa_tab[ET_ISA_NEON_DOTPROD].peak[ET_PEAK_INT8_DOT] = et__peak_sdot;
    /* smmla: 32 rows x 2 tokens per tile (an odd last token runs sdot) */
    et__isa_tab[ET_ISA_NEON_I8MM] = et__isa_tab[ET_ISA_NEON_DOTPROD];
    et__isa_tab[ET_ISA_NEON_I8MM].qgemm = et__qgemm_i8mm;
    et__isa_tab[ET_ISA_NEON_I8MM].qgemm_tile_t = 2;
    et__isa_tab[ET_ISA_NEON_I8MM].peak[ET_PEAK_INT8_DOT] = et__peak_smmla;
#endif
    for (int t = 0; t < ET_TYPE_COUNT; t++) {
        et__type_ops *o = &et__type_tab[t];
        o->dec_i8 = et__dec_i8_for((et_type)t, &o->G, &o->has_min);
        o->dec_f32 = et__dec_f32_for((et_type)t);
        o->kind = o->dec_i8 ? ET__KIND_I8 : (t == ET_BF16 || t == ET_NF4) ? ET__KIND_BF16
                                                                           : ET__KIND_F32;
    }
    et__tabs_ready = true;
}

const et__isa_ops *et__kern_isa_ops_for(et_isa isa) {
    et__tabs_init();
    return &et__isa_tab[isa < ET_ISA_COUNT ? isa : ET_ISA_REF];
}

const et__isa_ops *et__kern_isa_ops(void) { return et__kern_isa_ops_for(et_kern_isa()); }

const et__type_ops *et__kern_type_ops(et_type t) {
    et__tabs_init();
    if (t >= ET_TYPE_COUNT || !et__type_tab[t].dec_f32) return NULL;
    return &et__type_tab[t];
}

bool et_kern_matmul_supports(et_type t) {
    return et__kern_type_ops(t) != NULL && et_ref_matmul_supports(t);
}

const char *et_kern_matmul_family(et_type t) {
    const et__type_ops *to = et__kern_type_ops(t);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) return "ref";
    if (to->kind == ET__KIND_I8 && io->qgemm) return "int8";
    if (to->kind == ET__KIND_BF16 && io->bgemm) return "bf16";
    if (et__f16x3_path(t, io)) return "bf16x3";
    return "f32";
}

et_peak_kind et_kern_matmul_peak_kind(et_type t) {
    const char *f = et_kern_matmul_family(t);
    return !strcmp(f, "int8") ? ET_PEAK_INT8_DOT
         : !strcmp(f, "bf16") || !strcmp(f, "bf16x3") ? ET_PEAK_BF16_DOT : ET_PEAK_F32_FMA;
}

const char *et_kern_matmul_dx_family(et_type t) {
    const et__type_ops *to = et__kern_type_ops(t);
    const et__isa_ops *io = et__kern_isa_ops();
    if (!to || !io->sgemm) return "ref";
    return et__dx_bf16(t, io) ? "bf16" : "f32";
}

et_peak_kind et_kern_matmul_dx_peak_kind(et_type t) {
    return !strcmp(et_kern_matmul_dx_family(t), "bf16") ? ET_PEAK_BF16_DOT : ET_PEAK_F32_FMA;
}

double et_kern_peak_loop(et_peak_kind kind, int64_t n) {
    const et__isa_ops *io = et__kern_isa_ops();
    if ((unsigned)kind > ET_PEAK_INT8_DOT || !io->peak[kind]) return 0.0;
    return io->peak[kind](n);
}

double et_kern_read_loop(const void *p, size_t bytes) {
    const et__isa_ops *io = et__kern_isa_ops();
    return io->read ? io->read(p, bytes) : 0.0;
}

/* ---- choosing the path ---------------------------------------------------------------------- */
et_isa et_kern_isa_best(void) {
    et_isa best = ET_ISA_REF;
    for (int i = 1; i < ET_ISA_COUNT; i++)
        if (et__cpu_has((et_isa)i)) best = (et_isa)i;
    return best;
}

bool et_kern_isa_available(et_isa isa) { return isa < ET_ISA_COUNT && et__cpu_has(isa); }

static int et__isa = -1;

et_isa et_kern_isa(void) {
    if (et__isa < 0) {
        et_isa isa = et_kern_isa_best();
        const char *env = getenv("EDGETUNE_ISA");
        if (env && *env) {
            et_isa found = et_isa_from_name(env);
            if (found == ET_ISA_COUNT)
                fprintf(stderr, "edgetune: EDGETUNE_ISA=%s is not a known path; using %s\n", env,
                        et_isa_name(isa));
            else if (!et__cpu_has(found))
                fprintf(stderr, "edgetune: EDGETUNE_ISA=%s is not supported by this CPU; using %s\n",
                        env, et_isa_name(isa));
            else
                isa = found;
        }
        et__tabs_init();
        et__isa = (int)isa;
    }
    return (et_isa)et__isa;
}

bool et_kern_set_isa(et_isa isa) {
    if (isa >= ET_ISA_COUNT || !et__cpu_has(isa)) return false;
    et__tabs_init();
    et__isa = (int)isa;
    return true;
}
