/*
 * vk_device.c - the Vulkan backend's entry points: opening the loader at run time,
 * the instance (portability enumeration when listed; the validation layer and a
 * debug-utils messenger when KILN_VK_VALIDATION is set), device listing and selection
 * (discrete, then integrated GPUs, then the rest; by index or name substring), the
 * limits every other file plans with, and the backend ops struct. Memory is in
 * vk_memory.c, recording and pipelines in vk_exec.c, kernels in vk_kernels.c.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vk_impl.h"

#define MAX_PHYS    16
#define MAX_EXTS    512
#define VALIDATION  "VK_LAYER_KHRONOS_validation"
#define PORT_ENUM   "VK_KHR_portability_enumeration"
#define PORT_SUBSET "VK_KHR_portability_subset"

/* ==== Errors ==== */

kiln_status kiln__vk_result(VkResult r, const char *call)
{
    kiln_status s = KILN_E_INTERNAL;
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        s = KILN_E_OUT_OF_HOST_MEMORY;
        break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_TOO_MANY_OBJECTS:
        s = KILN_E_OUT_OF_DEVICE_MEMORY;
        break;
    case VK_ERROR_DEVICE_LOST:
        s = KILN_E_DEVICE_LOST;
        break;
    case VK_ERROR_INITIALIZATION_FAILED:
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_LAYER_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_FEATURE_NOT_PRESENT:
        s = KILN_E_BACKEND_UNAVAILABLE;
        break;
    case VK_ERROR_INVALID_SHADER_NV:
        s = KILN_E_KERNEL_BUILD;
        break;
    default:
        break;
    }
    return KILN_FAIL_NATIVE(s, r, "vulkan: %s failed with VkResult %d", call, (int)r);
}

/* ==== Loader ==== */

static kiln_status load_loader(struct kiln__vk_fns *f)
{
    static const char *const names[] = {
#if defined(__APPLE__)
        "libvulkan.1.dylib",
        "libvulkan.dylib",
        "libMoltenVK.dylib",
#else
        "libvulkan.so.1",
        "libvulkan.so",
#endif
    };
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && f->lib == NULL; i++) {
        f->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (f->lib == NULL) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "vulkan: the Vulkan loader (%s) is not installed; install it (Debian: "
                         "libvulkan1) and a driver (ICD), or choose another backend",
                         names[0]);
    }
    void *sym = dlsym(f->lib, "vkGetInstanceProcAddr");
    memcpy(&f->vkGetInstanceProcAddr, &sym, sizeof(sym));
    if (f->vkGetInstanceProcAddr == NULL) {
        dlclose(f->lib);
        f->lib = NULL;
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "vulkan: the loader has no vkGetInstanceProcAddr");
    }
#define LOAD_GLOBAL(fn) f->fn = (PFN_##fn)f->vkGetInstanceProcAddr(NULL, #fn);
    KILN_VK_GLOBAL_FNS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    if (f->vkCreateInstance == NULL || f->vkEnumerateInstanceExtensionProperties == NULL) {
        dlclose(f->lib);
        f->lib = NULL;
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE, "vulkan: the loader is incomplete");
    }
    return KILN_OK;
}

static kiln_status load_instance_fns(struct kiln__vk_fns *f, VkInstance inst)
{
#define LOAD_INST(fn)                                                                              \
    f->fn = (PFN_##fn)f->vkGetInstanceProcAddr(inst, #fn);                                         \
    if (f->fn == NULL) {                                                                           \
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,                                               \
                         "vulkan: the loader lacks %s (a Vulkan 1.1 loader is required)", #fn);    \
    }
    KILN_VK_INSTANCE_FNS(LOAD_INST)
#undef LOAD_INST
#define LOAD_OPT(fn) f->fn = (PFN_##fn)f->vkGetInstanceProcAddr(inst, #fn);
    KILN_VK_DEBUG_FNS(LOAD_OPT)
#undef LOAD_OPT
    return KILN_OK;
}

/* ==== Instance ==== */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data,
                                               void *ud)
{
    struct kiln__vk *vk = ud;
    (void)type;
    if (sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        vk->n_validation++;
        kiln__log(vk->ctx, KILN_LOG_WARN, "vulkan validation: %s",
                  data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

static bool has_name(const VkExtensionProperties *e, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(e[i].extensionName, name) == 0) {
            return true;
        }
    }
    return false;
}

static bool has_layer(struct kiln__vk_fns *f, const char *name)
{
    VkLayerProperties layers[64];
    uint32_t n = 64;
    if (f->vkEnumerateInstanceLayerProperties == NULL ||
        f->vkEnumerateInstanceLayerProperties(&n, layers) < 0) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(layers[i].layerName, name) == 0) {
            return true;
        }
    }
    return false;
}

/* validation: NULL (off) or the KILN_VK_VALIDATION value ("1", "sync", "gpu", ...). */
static kiln_status create_instance(struct kiln__vk *vk, const char *validation)
{
    struct kiln__vk_fns *f = &vk->fn;
    VkExtensionProperties exts[MAX_EXTS];
    uint32_t n_exts = MAX_EXTS;
    const char *enabled[4];
    uint32_t n_en = 0;
    VkInstanceCreateFlags flags = 0;
    if (f->vkEnumerateInstanceExtensionProperties(NULL, &n_exts, exts) < 0) {
        n_exts = 0;
    }
    if (has_name(exts, n_exts, PORT_ENUM)) {
        enabled[n_en++] = PORT_ENUM;
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "kiln",
                             .pEngineName = "kiln",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .flags = flags, .pApplicationInfo = &app};
    const char *layers[1] = {VALIDATION};
    VkDebugUtilsMessengerCreateInfoEXT dci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_debug,
        .pUserData = vk};
    VkValidationFeatureEnableEXT feats[2];
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .pEnabledValidationFeatures = feats};
    if (validation != NULL) {
        if (!has_layer(f, VALIDATION)) {
            return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                             "vulkan: KILN_VK_VALIDATION is set but %s is not installed "
                             "(Debian: vulkan-validationlayers)",
                             VALIDATION);
        }
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = layers;
        enabled[n_en++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        ci.pNext = &dci;
        if (strstr(validation, "sync") != NULL) {
            feats[vf.enabledValidationFeatureCount++] =
                VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
        }
        if (strstr(validation, "gpu") != NULL) {
            feats[vf.enabledValidationFeatureCount++] =
                VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT;
        }
        if (vf.enabledValidationFeatureCount > 0) {
            enabled[n_en++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
            dci.pNext = &vf;
        }
    }
    ci.enabledExtensionCount = n_en;
    ci.ppEnabledExtensionNames = enabled;
    VkResult r = f->vkCreateInstance(&ci, NULL, &vk->inst);
    if (r != VK_SUCCESS) {
        return KILN_FAIL_NATIVE(KILN_E_BACKEND_UNAVAILABLE, r,
                                "vulkan: vkCreateInstance failed (VkResult %d): no Vulkan driver "
                                "(ICD) is installed or none supports Vulkan 1.1",
                                (int)r);
    }
    KILN_TRY(load_instance_fns(f, vk->inst));
    if (validation != NULL && f->vkCreateDebugUtilsMessengerEXT != NULL) {
        dci.pNext = NULL;
        KILN_VK_CHECK(f->vkCreateDebugUtilsMessengerEXT(vk->inst, &dci, NULL, &vk->messenger));
    }
    return KILN_OK;
}

static void destroy_instance(struct kiln__vk *vk)
{
    if (vk->messenger != VK_NULL_HANDLE) {
        vk->fn.vkDestroyDebugUtilsMessengerEXT(vk->inst, vk->messenger, NULL);
        vk->messenger = VK_NULL_HANDLE;
    }
    if (vk->inst != VK_NULL_HANDLE) {
        vk->fn.vkDestroyInstance(vk->inst, NULL);
        vk->inst = VK_NULL_HANDLE;
    }
    if (vk->fn.lib != NULL) {
        dlclose(vk->fn.lib);
        vk->fn.lib = NULL;
    }
}

/* ==== Physical devices ==== */

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return 3;
    default:
        return 4;
    }
}

static const char *type_name(VkPhysicalDeviceType t)
{
    static const char *const names[] = {"discrete", "integrated", "virtual", "cpu", "other"};
    return names[type_rank(t)];
}

/* The devices in preference order (stable within a type); the order defines indices. */
static kiln_status sorted_devices(struct kiln__vk *vk, VkPhysicalDevice *pds, uint32_t *n)
{
    *n = MAX_PHYS;
    VkResult r = vk->fn.vkEnumeratePhysicalDevices(vk->inst, n, pds);
    if (r < 0) {
        return kiln__vk_result(r, "vkEnumeratePhysicalDevices");
    }
    if (*n == 0) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                         "vulkan: the loader found no Vulkan device (no driver/ICD installed, "
                         "or VK_ICD_FILENAMES points nowhere)");
    }
    int rank[MAX_PHYS];
    for (uint32_t i = 0; i < *n; i++) {
        VkPhysicalDeviceProperties p;
        vk->fn.vkGetPhysicalDeviceProperties(pds[i], &p);
        rank[i] = type_rank(p.deviceType);
    }
    for (uint32_t i = 1; i < *n; i++) { /* insertion sort: stable */
        VkPhysicalDevice d = pds[i];
        int k = rank[i];
        uint32_t j = i;
        while (j > 0 && rank[j - 1] > k) {
            pds[j] = pds[j - 1];
            rank[j] = rank[j - 1];
            j--;
        }
        pds[j] = d;
        rank[j] = k;
    }
    return KILN_OK;
}

struct dev_query {
    VkPhysicalDeviceProperties2 p2;
    VkPhysicalDeviceSubgroupProperties sg;
    VkPhysicalDeviceMaintenance3Properties m3;
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sgc;
    VkPhysicalDeviceFloatControlsPropertiesKHR fc;
    VkPhysicalDeviceDriverPropertiesKHR drv;
    VkPhysicalDeviceFeatures2 f2;
    VkPhysicalDevice16BitStorageFeatures s16;
    VkPhysicalDeviceShaderFloat16Int8FeaturesKHR f16;
    bool has_sgc, has_fc, has_drv, has_f16, has_port_subset;
};

static void query(struct kiln__vk_fns *f, VkPhysicalDevice pd, struct dev_query *q)
{
    VkExtensionProperties exts[MAX_EXTS];
    uint32_t n = MAX_EXTS;
    memset(q, 0, sizeof(*q));
    if (f->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, exts) < 0) {
        n = 0;
    }
    q->has_sgc = has_name(exts, n, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    q->has_fc = has_name(exts, n, VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME);
    q->has_drv = has_name(exts, n, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    q->has_f16 = has_name(exts, n, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    q->has_port_subset = has_name(exts, n, PORT_SUBSET);
    q->p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    q->sg.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
    q->m3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
    q->p2.pNext = &q->sg;
    q->sg.pNext = &q->m3;
    void **tail = &q->m3.pNext;
    if (q->has_sgc) {
        q->sgc.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT;
        *tail = &q->sgc;
        tail = &q->sgc.pNext;
    }
    if (q->has_fc) {
        q->fc.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES_KHR;
        *tail = &q->fc;
        tail = &q->fc.pNext;
    }
    if (q->has_drv) {
        q->drv.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES_KHR;
        *tail = &q->drv;
    }
    f->vkGetPhysicalDeviceProperties2(pd, &q->p2);
    q->f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    q->s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
    q->f2.pNext = &q->s16;
    if (q->has_f16) {
        q->f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR;
        q->s16.pNext = &q->f16;
    }
    f->vkGetPhysicalDeviceFeatures2(pd, &q->f2);
}

static void describe(struct kiln__vk_fns *f, VkPhysicalDevice pd, int32_t index,
                     struct kiln_device_info *out)
{
    struct dev_query q;
    VkPhysicalDeviceMemoryProperties mp;
    query(f, pd, &q);
    f->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    const VkPhysicalDeviceLimits *l = &q.p2.properties.limits;
    uint32_t v = q.p2.properties.apiVersion;
    memset(out, 0, sizeof(*out));
    out->index = index;
    snprintf(out->name, sizeof(out->name), "%s", q.p2.properties.deviceName);
    snprintf(out->type, sizeof(out->type), "%s", type_name(q.p2.properties.deviceType));
    char *d = out->details;
    size_t cap = sizeof(out->details), len = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (len < cap) {                                                                           \
            len += (size_t)snprintf(d + len, cap - len, __VA_ARGS__);                              \
        }                                                                                          \
    } while (0)
    ADD("api version: %u.%u.%u\n", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
        VK_API_VERSION_PATCH(v));
    ADD("vendor id: 0x%04x\ndevice id: 0x%04x\n", q.p2.properties.vendorID,
        q.p2.properties.deviceID);
    if (q.has_drv) {
        ADD("driver: %s (%s)\n", q.drv.driverName, q.drv.driverInfo);
    } else {
        ADD("driver version: 0x%08x\n", q.p2.properties.driverVersion);
    }
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++) {
        ADD("memory heap %u: %llu MiB%s\n", i, (unsigned long long)(mp.memoryHeaps[i].size >> 20),
            (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) ? " device-local" : "");
    }
    ADD("maxStorageBufferRange: %u\n", l->maxStorageBufferRange);
    ADD("maxMemoryAllocationSize: %llu\n", (unsigned long long)q.m3.maxMemoryAllocationSize);
    ADD("maxMemoryAllocationCount: %u\n", l->maxMemoryAllocationCount);
    ADD("minStorageBufferOffsetAlignment: %llu\n",
        (unsigned long long)l->minStorageBufferOffsetAlignment);
    ADD("maxComputeSharedMemorySize: %u\n", l->maxComputeSharedMemorySize);
    ADD("maxComputeWorkGroupInvocations: %u\n", l->maxComputeWorkGroupInvocations);
    ADD("subgroup size: %u", q.sg.subgroupSize);
    if (q.has_sgc) {
        ADD(" (range %u..%u)", q.sgc.minSubgroupSize, q.sgc.maxSubgroupSize);
    }
    const char *sg_ops = "none";
    if ((q.sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0) {
        sg_ops = (q.sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) ? "arithmetic"
                 : (q.sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT)    ? "basic only"
                                                                                 : "none";
    }
    ADD("\nsubgroup operations in compute shaders: %s\n", sg_ops);
    ADD("fp16 storage: %s\n", q.s16.storageBuffer16BitAccess ? "yes" : "no");
    ADD("fp16 arithmetic: %s\n", q.has_f16 && q.f16.shaderFloat16 ? "yes" : "no");
    ADD("16-bit storage (uniform and storage): %s\n",
        q.s16.uniformAndStorageBuffer16BitAccess ? "yes" : "no");
    ADD("inf/nan preserve (fp32): %s",
        q.has_fc && q.fc.shaderSignedZeroInfNanPreserveFloat32 ? "yes" : "no");
#undef ADD
}

static kiln_status vk_devices(struct kiln_device_info *out, int32_t max, int32_t *n_out)
{
    struct kiln__vk vk;
    VkPhysicalDevice pds[MAX_PHYS];
    uint32_t n = 0;
    memset(&vk, 0, sizeof(vk));
    kiln_status s = load_loader(&vk.fn);
    if (s == KILN_OK) {
        s = create_instance(&vk, NULL);
    }
    if (s == KILN_OK) {
        s = sorted_devices(&vk, pds, &n);
    }
    if (s == KILN_OK) {
        *n_out = (int32_t)n;
        for (uint32_t i = 0; i < n && (int32_t)i < max; i++) {
            describe(&vk.fn, pds[i], (int32_t)i, &out[i]);
        }
    }
    destroy_instance(&vk);
    return s;
}

/* ==== Opening a device ==== */

static kiln_status pick(struct kiln__vk *vk, const char *device, VkPhysicalDevice *out)
{
    VkPhysicalDevice pds[MAX_PHYS];
    uint32_t n;
    KILN_TRY(sorted_devices(vk, pds, &n));
    if (device == NULL) {
        *out = pds[0];
        return KILN_OK;
    }
    char *end;
    long idx = strtol(device, &end, 10);
    if (*end == '\0' && end != device) {
        if (idx < 0 || idx >= (long)n) {
            return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                             "vulkan: no device %ld; %u device(s) found (kiln devices lists them)",
                             idx, n);
        }
        *out = pds[idx];
        return KILN_OK;
    }
    char names[512] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vk->fn.vkGetPhysicalDeviceProperties(pds[i], &p);
        for (const char *c = p.deviceName; *c; c++) {
            if (strncasecmp(c, device, strlen(device)) == 0) {
                *out = pds[i];
                return KILN_OK;
            }
        }
        if (len < sizeof(names)) {
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%u: %s", i ? ", " : "", i,
                                    p.deviceName);
        }
    }
    return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE,
                     "vulkan: no device name contains '%s'; devices: %s", device, names);
}

static uint32_t env_u32(const char *name, uint32_t dflt)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? (uint32_t)strtoul(v, NULL, 0) : dflt;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

static kiln_status create_device(struct kiln__vk *vk, const struct dev_query *q)
{
    VkQueueFamilyProperties qf[32];
    uint32_t n_qf = 32;
    vk->fn.vkGetPhysicalDeviceQueueFamilyProperties(vk->pd, &n_qf, qf);
    uint32_t fam = UINT32_MAX;
    for (uint32_t i = 0; i < n_qf; i++) { /* prefer a compute queue without graphics */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
            (fam == UINT32_MAX || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))) {
            if (fam == UINT32_MAX || (qf[fam].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
                fam = i;
            }
        }
    }
    if (fam == UINT32_MAX) {
        return KILN_FAIL(KILN_E_BACKEND_UNAVAILABLE, "vulkan: device '%s' has no compute queue",
                         vk->props.deviceName);
    }
    vk->queue_family = fam;
    vk->ts_bits = qf[fam].timestampValidBits;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = fam,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    const char *exts[2];
    uint32_t n_ext = 0;
    if (q->has_port_subset) {
        exts[n_ext++] = PORT_SUBSET;
    }
    if (vk->ieee) { /* the instance asks for 1.1, where float controls is an extension */
        exts[n_ext++] = VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME;
    }
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n_ext,
                              .ppEnabledExtensionNames = exts};
    KILN_VK_CHECK(vk->fn.vkCreateDevice(vk->pd, &dci, NULL, &vk->dev));
    vk->fn.vkGetDeviceQueue(vk->dev, fam, 0, &vk->queue);
    return KILN_OK;
}

static uint32_t pow2_floor(uint32_t x)
{
    uint32_t p = 1;
    while (p * 2 <= x) {
        p *= 2;
    }
    return p;
}

/* Whether the reductions run on subgroup operations (the _SG shader variants): the
 * device has the basic and arithmetic ones in compute shaders, the reduction
 * workgroup (wg invocations) is a whole number of subgroups, and KILN_VK_SUBGROUP is
 * not 0 (which forces the shared-memory variants). MoltenVK on AMD GPUs is left out:
 * ggml found subgroup arithmetic wrong there (llama.cpp#15846) and CI cannot run it. */
static bool subgroup_reductions(const struct dev_query *q, uint32_t wg)
{
    const VkSubgroupFeatureFlags need =
        VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    const char *e = getenv("KILN_VK_SUBGROUP");
    if ((e != NULL && strcmp(e, "0") == 0) ||
        (q->has_drv && q->drv.driverID == VK_DRIVER_ID_MOLTENVK &&
         q->p2.properties.vendorID == 0x1002)) {
        return false;
    }
    return (q->sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0 &&
           (q->sg.supportedOperations & need) == need && q->sg.subgroupSize > 0 &&
           wg % q->sg.subgroupSize == 0;
}

/* Reads the limits every other part plans with; nothing below is hard-coded. */
static void read_limits(struct kiln__vk *vk, const struct dev_query *q)
{
    const VkPhysicalDeviceLimits *l = &q->p2.properties.limits;
    vk->props = q->p2.properties;
    vk->fn.vkGetPhysicalDeviceMemoryProperties(vk->pd, &vk->mem_props);
    vk->subgroup_size = q->sg.subgroupSize ? q->sg.subgroupSize : 1;
    uint32_t wg = l->maxComputeWorkGroupInvocations;
    wg = wg < l->maxComputeWorkGroupSize[0] ? wg : l->maxComputeWorkGroupSize[0];
    vk->max_wg = pow2_floor(wg < 256 ? wg : 256);
    vk->max_shared = l->maxComputeSharedMemorySize < 32768 ? l->maxComputeSharedMemorySize : 32768;
    vk->max_range = env_u32("KILN_VK_MAX_STORAGE_RANGE", l->maxStorageBufferRange);
    if (vk->max_range > l->maxStorageBufferRange) {
        vk->max_range = l->maxStorageBufferRange;
    }
    vk->max_alloc = q->m3.maxMemoryAllocationSize;
    vk->max_alloc_count = env_u32("KILN_VK_MAX_ALLOCATIONS", l->maxMemoryAllocationCount);
    if (vk->max_alloc_count > l->maxMemoryAllocationCount) {
        vk->max_alloc_count = l->maxMemoryAllocationCount;
    }
    vk->ieee = q->has_fc && q->fc.shaderSignedZeroInfNanPreserveFloat32 &&
               !env_flag("KILN_VK_DISABLE_IEEE");
    vk->subgroup = subgroup_reductions(q, vk->max_wg);
    vk->force_staging = env_flag("KILN_VK_FORCE_STAGING");
    vk->force_noncoherent = env_flag("KILN_VK_FORCE_NONCOHERENT");
}

static kiln_status vk_init(struct kiln_backend *be, const char *device)
{
    struct kiln__vk *vk = kiln__calloc(be->ctx, sizeof(*vk), "the vulkan backend");
    struct dev_query q;
    if (vk == NULL) {
        return KILN_E_OUT_OF_HOST_MEMORY;
    }
    be->impl = vk;
    vk->ctx = be->ctx;
    vk->cur = -1;
    const char *val = getenv("KILN_VK_VALIDATION");
    if (val != NULL && (val[0] == '\0' || strcmp(val, "0") == 0)) {
        val = NULL;
    }
    KILN_TRY(load_loader(&vk->fn));
    KILN_TRY(create_instance(vk, val));
    KILN_TRY(pick(vk, device, &vk->pd));
    query(&vk->fn, vk->pd, &q);
    read_limits(vk, &q);
    KILN_TRY(create_device(vk, &q));
    VkDeviceSize align = vk->props.limits.minStorageBufferOffsetAlignment;
    be->alignment = align > 256 ? (size_t)align : 256;
    be->view_alignment = align > 4 ? (size_t)align : 4;
    snprintf(be->device_name, sizeof(be->device_name), "%s", vk->props.deviceName);
    KILN_TRY(kiln__vk_memory_init(vk));
    KILN_TRY(kiln__vk_exec_init(vk));
    kiln__log(be->ctx, KILN_LOG_INFO,
              "vulkan: %s (%s): subgroup %u, workgroup <= %u, shared %u B, storage range %llu B, "
              "%s memory%s%s%s, matmul tile %ux%ux%u/%ux%u, conv tiles %ux%ux%u/%ux%u and "
              "%ux%ux%u/%ux%u",
              vk->props.deviceName, type_name(vk->props.deviceType), vk->subgroup_size, vk->max_wg,
              vk->max_shared, (unsigned long long)vk->max_range,
              vk->dev_mappable ? "mapped" : "staged", vk->dev_coherent ? "" : " non-coherent",
              vk->ieee ? ", inf/nan-preserving shaders" : "",
              vk->subgroup ? ", subgroup reductions" : "", vk->mm_tile[0], vk->mm_tile[1],
              vk->mm_tile[2], vk->mm_tile[3], vk->mm_tile[4], vk->cv_tile[0][0], vk->cv_tile[0][1],
              vk->cv_tile[0][2], vk->cv_tile[0][3], vk->cv_tile[0][4], vk->cv_tile[1][0],
              vk->cv_tile[1][1], vk->cv_tile[1][2], vk->cv_tile[1][3], vk->cv_tile[1][4]);
    return KILN_OK;
}

static void vk_fini(struct kiln_backend *be)
{
    struct kiln__vk *vk = be->impl;
    if (vk == NULL) {
        return;
    }
    if (vk->dev != VK_NULL_HANDLE) {
        vk->fn.vkDeviceWaitIdle(vk->dev);
        kiln__vk_exec_fini(vk);
        kiln__vk_memory_fini(vk);
        vk->fn.vkDestroyDevice(vk->dev, NULL);
    }
    destroy_instance(vk);
    kiln__free(be->ctx, vk);
    be->impl = NULL;
}

uint32_t kiln__vk_validation_count(const struct kiln_backend *be)
{
    const struct kiln__vk *vk = be->impl;
    return vk != NULL ? vk->n_validation : 0;
}

const struct kiln_backend_ops kiln__vk_backend = {
    .abi = KILN__BACKEND_ABI,
    .name = "vulkan",
    .init = vk_init,
    .fini = vk_fini,
    .devices = vk_devices,
    .buffer_alloc = kiln__vk_buffer_alloc,
    .buffer_free = kiln__vk_buffer_free,
    .upload = kiln__vk_upload,
    .download = kiln__vk_download,
    .run_begin = kiln__vk_run_begin,
    .run_end = kiln__vk_run_end,
    .synchronize = kiln__vk_synchronize,
    .set_profiling = kiln__vk_set_profiling,
    .kernels = kiln__vk_kernels,
    .generic = &kiln__vk_generic,
    .fuse_matmul = true,
};
