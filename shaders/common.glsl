// Shared by every edgetune compute shader (each .comp starts with #version 450): optional extensions, workgroup size as
// specialization constant 0, and workgroup reductions that are correct for any subgroup size.
//
// Variant defines (set per SPIR-V variant in shaders/variants.txt):
//   USE_SUBGROUP  reduce with subgroupAdd/subgroupMax, one partial per subgroup in shared memory
//                 (gl_NumSubgroups of them: any subgroup size, any workgroup size).
//                 Without it, a shared-memory tree (WG must be a power of two).
//   USE_FP16      products in float16 (shaderFloat16), accumulated in float32.
#extension GL_EXT_control_flow_attributes : enable
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#ifdef USE_FP16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

layout(constant_id = 0) const uint WG = 64;
layout(local_size_x_id = 0) in;

#ifndef NO_REDUCE
shared float et_red[WG];

float wg_sum(float v) {     // every invocation of the workgroup must call it
#ifdef USE_SUBGROUP
    v = subgroupAdd(v);
    if (subgroupElect()) et_red[gl_SubgroupID] = v;
    barrier();
    float s = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) s += et_red[i];
    barrier();
    return s;
#else
    uint l = gl_LocalInvocationIndex;
    et_red[l] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (l < h) et_red[l] += et_red[l + h];
        barrier();
    }
    float s = et_red[0];
    barrier();
    return s;
#endif
}

float wg_max(float v) {
#ifdef USE_SUBGROUP
    v = subgroupMax(v);
    if (subgroupElect()) et_red[gl_SubgroupID] = v;
    barrier();
    float s = -1.0 / 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) s = max(s, et_red[i]);
    barrier();
    return s;
#else
    uint l = gl_LocalInvocationIndex;
    et_red[l] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (l < h) et_red[l] = max(et_red[l], et_red[l + h]);
        barrier();
    }
    float s = et_red[0];
    barrier();
    return s;
#endif
}
#endif

// Linear workgroup index over a 2-D grid (x up to 65535 per dimension on every device).
uint wg_linear() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

const float NEG_INF = -1.0 / 0.0;
