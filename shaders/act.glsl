// Activation functions and their derivatives, in float32 (shared by eltwise and glu_back).
// σ is written so neither branch overflows: exp of a non-positive number only.
float sigm(float x) {
    float e = exp(-abs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
float silu(float x) { return x * sigm(x); }
float silu_grad(float x) { float s = sigm(x); return s * (1.0 + x * (1.0 - s)); }
// gelu, tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x³))), c = sqrt(2/π).
// tanh(u) = 1 - 2/(exp(2u)+1), clamped so exp never overflows.
float tanh_safe(float u) { u = clamp(u, -15.0, 15.0); return 1.0 - 2.0 / (exp(2.0 * u) + 1.0); }
float gelu(float x) {
    const float c = 0.7978845608028654;
    return 0.5 * x * (1.0 + tanh_safe(c * (x + 0.044715 * x * x * x)));
}
float gelu_grad(float x) {
    const float c = 0.7978845608028654;
    float t = tanh_safe(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}
