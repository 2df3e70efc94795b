/*
 * optim.cl - in-place updates (the CPU reference is src/ops/optim.c): SGD with momentum,
 * dampening, Nesterov and L2 weight decay (torch.optim.SGD), Adam / AdamW with
 * host-computed bias corrections bc1 = 1 - beta1^t, bc2 = 1 - beta2^t (both zero the
 * gradient once read when clear_grad is set), RMSprop and
 * Adagrad (its decayed rate computed by the host), and
 * accumulate (dst = alpha dst + beta x, a zero coefficient dropping its term). The
 * expressions keep the reference's order of operations. OpenCL C 1.2.
 */
#pragma OPENCL FP_CONTRACT OFF

kernel void sgd_update(global float *w, ulong ow, global float *gr, ulong og, global float *vel,
                       ulong ov, ulong n, float lr, float momentum, float dampening,
                       float weight_decay, int nesterov, int first, int clear_grad)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float wi = w[ow + i];
    float g = gr[og + i] + weight_decay * wi;
    if (clear_grad) {
        gr[og + i] = 0.0f;
    }
    if (momentum != 0.0f) {
        float b = first ? g : momentum * vel[ov + i] + (1.0f - dampening) * g;
        vel[ov + i] = b;
        g = nesterov ? g + momentum * b : b;
    }
    w[ow + i] = wi - lr * g;
}

kernel void adam_update(global float *w, ulong ow, global float *gr, ulong og, global float *m,
                        ulong om, global float *v, ulong ov, ulong n, float lr, float beta1,
                        float beta2, float eps, float weight_decay, int decoupled, float bc1,
                        float bc2, int clear_grad)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float wi = w[ow + i];
    float g = gr[og + i];
    if (clear_grad) {
        gr[og + i] = 0.0f;
    }
    if (decoupled) {
        wi *= 1.0f - lr * weight_decay;
    } else {
        g += weight_decay * wi;
    }
    float mi = beta1 * m[om + i] + (1.0f - beta1) * g;
    float vi = beta2 * v[ov + i] + (1.0f - beta2) * g * g;
    m[om + i] = mi;
    v[ov + i] = vi;
    float denom = sqrt(vi / bc2) + eps;
    w[ow + i] = wi - lr * (mi / bc1) / denom;
}

kernel void rmsprop_update(global float *w, ulong ow, global const float *gr, ulong og,
                           global float *v, ulong ov, ulong n, float lr, float alpha, float eps,
                           float weight_decay)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float wi = w[ow + i];
    float g = gr[og + i] + weight_decay * wi;
    float vi = alpha * v[ov + i] + (1.0f - alpha) * g * g;
    v[ov + i] = vi;
    w[ow + i] = wi - lr * (g / (sqrt(vi) + eps));
}

kernel void adagrad_update(global float *w, ulong ow, global const float *gr, ulong og,
                           global float *s, ulong os, ulong n, float lr, float eps,
                           float weight_decay)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float wi = w[ow + i];
    float g = gr[og + i] + weight_decay * wi;
    float si = s[os + i] + g * g;
    s[os + i] = si;
    w[ow + i] = wi - lr * (g / (sqrt(si) + eps));
}

kernel void accumulate(global float *y, ulong oy, global const float *x, ulong ox, ulong n,
                       float alpha, float beta)
{
    ulong i = get_global_id(0);
    if (i >= n) {
        return;
    }
    float v = alpha == 0.0f ? 0.0f : alpha * y[oy + i];
    y[oy + i] = beta == 0.0f ? v : v + beta * x[ox + i];
}
