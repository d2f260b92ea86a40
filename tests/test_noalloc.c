/* No allocation inside a training step: malloc, calloc, realloc, aligned_alloc,
 * posix_memalign and free are interposed in this binary (they replace glibc's for every
 * library in the process, OpenBLAS and libgomp included) and counted while training steps
 * run: LoRA on every linear layer with dropout (frozen base, trainable low-rank adapters),
 * and full fine-tuning at sizes where a threaded BLAS would split the dW products; both with
 * clipped AdamW.  Under AddressSanitizer, which
 * owns malloc, the count comes from its malloc hook interface instead.  The first step warms up
 * thread pools; the count over the next three steps must be zero. */
#include <malloc.h>
#include "harness.h"
#include "optim.h"
#include "toy.h"

static volatile int counting;
static volatile long n_alloc;

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer, which owns malloc, count through its hook interface instead. */
/* from <sanitizer/allocator_interface.h> (not shipped with gcc; the runtime has it) */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void et__on_malloc(const volatile void *p, size_t n) {
    if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
}
static void et__on_free(const volatile void *p) {}
static void et__install_hook(void) { __sanitizer_install_malloc_and_free_hooks(et__on_malloc, et__on_free); }
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void  __libc_free(void *);

void *malloc(size_t n) { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    if (counting) __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }
static void et__install_hook(void) {}
#endif

static const et_llama_config cfg_lora = {
    .vocab = 40, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
    .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
};
/* Full fine-tuning at sizes where every dW product is large enough that a threaded BLAS
 * would split it (OpenBLAS then mallocs a job array per call): the engine's GEMM must not. */
static const et_llama_config cfg_full = {
    .vocab = 300, .dim = 256, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 64,
    .ffn = 512, .max_seq = 128, .rope_theta = 10000.0f, .rms_eps = 1e-5f, .tied_embeddings = true,
};

/* Three steps of forward, backward, clipped AdamW after a warm-up step: zero allocations. */
static void check_steps_allocate_nothing(const et_llama_config *cfg, bool lora, int64_t T, int64_t B) {
    et_ctx *ctx = et_ctx_new(1 << 15);
    et_llama m;
    et_llama_batch b;
    /* LoRA: rank 4 on every linear layer, with dropout (its masks are drawn in the step) */
    bool ok = et_llama_init(&m, ctx, cfg, 3, 0) &&
              (lora ? et_llama_add_lora(&m, 4, 8.0f, 0.1f, "all", 5) : et_llama_train_all(&m)) &&
              et_llama_batch_new(&b, &m, T, B, (T - 1) * B);
    et_tensor *loss = ok ? et_llama_loss(&m, &b, false) : NULL;
    et_graph *g = et_graph_new(ctx, 1 << 14);
    et_optim opt = {0};
    et_adamw_cfg ac = et_adamw_defaults();
    et_optim_opts oo = { .clip = 1.0f, .grad_accum = 1 };
    et_plan plan = {0};
    ok = ok && loss && et_graph_backward(g, loss, NULL) && et_optim_adamw_init_ex(&opt, g, &ac, &oo) &&
         et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
    CHECK(ok, "setup: %s", et_ctx_error(ctx));
    if (ok) {
        et_toy_fill_batch(&b, cfg->vocab, 0);
        et_optim_next_step(&opt, 1e-3f, 1.0f);
        ok = et_graph_compute(g, &plan, 2);       /* warm-up: thread pools start here */
        n_alloc = 0;
        counting = 1;
        for (int s = 1; ok && s <= 3; s++) {
            et_toy_fill_batch(&b, cfg->vocab, (uint64_t)s);
            if (m.ad.seed) *(int32_t *)m.ad.seed->data = s;   /* new dropout masks */
            et_optim_next_step(&opt, 1e-3f, 1.0f);
            ok = et_graph_compute(g, &plan, 2);
        }
        counting = 0;
        CHECK(ok, "step: %s", et_ctx_error(ctx));
        printf("  %s: allocations during 3 steps: %ld (planned step buffer %.1f KiB, %d trained tensors)\n",
               lora ? "lora" : "full", n_alloc, plan.peak_bytes / 1024.0, opt.n_params);
        CHECK(n_alloc == 0, "%s: %ld allocations inside training steps", lora ? "lora" : "full", n_alloc);
    }
    et_plan_free(&plan);
    et_optim_free(&opt);
    et_graph_free(g);
    et_ctx_free(ctx);
}

static void test_step_allocates_nothing(void) {
    check_steps_allocate_nothing(&cfg_lora, true, 32, 4);
    check_steps_allocate_nothing(&cfg_full, false, 64, 4);
}

/* The hook must see allocations at all, or the test above proves nothing. */
static void test_hook_counts(void) {
    n_alloc = 0;
    counting = 1;
    void *volatile p = malloc(100);   /* volatile: the pair must not be optimized away */
    counting = 0;
    free(p);
    CHECK(n_alloc == 1, "the malloc hook counted %ld of 1", n_alloc);
}

int main(void) {
    et__install_hook();
    RUN(test_hook_counts);
    RUN(test_step_allocates_nothing);
    return DONE();
}
