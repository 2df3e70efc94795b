/*
 * cl_profile.c - the opencl backend's part of kiln_context_set_profiling: the queue is
 * recreated with CL_QUEUE_PROFILING_ENABLE, every launch (our kernels and CLBlast calls)
 * keeps its event with the op of the node that made it, and after each host wait the
 * finished launches' times are charged to their ops and the events released. Counting
 * launches (kiln_stats.dispatches) is done here too, profiling or not.
 */
#include <string.h>

#include "cl_impl.h"

kiln_status kiln__cl_set_profiling(struct kiln_backend *be, bool on)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_int err = CL_SUCCESS;
    KILN_CL_CHECK(clFinish(cl->queue));
    kiln__cl_collect(be);
    cl_command_queue q =
        clCreateCommandQueue(cl->context, cl->device, on ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    KILN_CL_CHECK_ERR(err, "clCreateCommandQueue (profiling)");
    clReleaseCommandQueue(cl->queue);
    cl->queue = q;
    cl->profiling = on;
    return KILN_OK;
}

cl_event *kiln__cl_event_slot(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    if (!cl->profiling) {
        return NULL;
    }
    if (cl->n_ev == cl->cap_ev) {
        int32_t cap = cl->cap_ev ? 2 * cl->cap_ev : 256;
        cl_event *ev = kiln__alloc(be->ctx, sizeof(*ev) * (size_t)cap, "profiling events");
        int32_t *op = kiln__alloc(be->ctx, sizeof(*op) * (size_t)cap, "profiling events");
        if (ev == NULL || op == NULL) { /* this launch goes untimed */
            kiln__free(be->ctx, ev);
            kiln__free(be->ctx, op);
            kiln_clear_error();
            return NULL;
        }
        if (cl->n_ev > 0) {
            memcpy(ev, cl->ev, sizeof(*ev) * (size_t)cl->n_ev);
            memcpy(op, cl->ev_op, sizeof(*op) * (size_t)cl->n_ev);
        }
        kiln__free(be->ctx, cl->ev);
        kiln__free(be->ctx, cl->ev_op);
        cl->ev = ev;
        cl->ev_op = op;
        cl->cap_ev = cap;
    }
    cl->ev[cl->n_ev] = NULL;
    return &cl->ev[cl->n_ev];
}

void kiln__cl_launched(struct kiln_backend *be, cl_event *ev)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    kiln__count_dispatch(be->ctx);
    cl->pending++;
    if (ev != NULL && *ev != NULL) {
        cl->ev_op[cl->n_ev++] = be->ctx->prof.op;
    }
}

void kiln__cl_collect(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    cl_ulong prev_end = 0;
    for (int32_t i = 0; i < cl->n_ev; i++) {
        cl_ulong queued = 0, end = 0;
        if (clGetEventProfilingInfo(cl->ev[i], CL_PROFILING_COMMAND_QUEUED, sizeof(queued), &queued,
                                    NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(cl->ev[i], CL_PROFILING_COMMAND_END, sizeof(end), &end, NULL) ==
                CL_SUCCESS) {
            /* From the end of the launch before it, or its own queueing if later. */
            cl_ulong from = queued > prev_end ? queued : prev_end;
            kiln__prof_time(be->ctx, cl->ev_op[i], end > from ? 1e-9 * (double)(end - from) : 0);
            prev_end = end > prev_end ? end : prev_end;
        }
        clReleaseEvent(cl->ev[i]);
    }
    cl->n_ev = 0;
}

void kiln__cl_profile_fini(struct kiln_backend *be)
{
    struct kiln__cl *cl = kiln__cl_of(be);
    for (int32_t i = 0; i < cl->n_ev; i++) {
        clReleaseEvent(cl->ev[i]);
    }
    kiln__free(be->ctx, cl->ev);
    kiln__free(be->ctx, cl->ev_op);
    cl->ev = NULL;
    cl->ev_op = NULL;
    cl->n_ev = cl->cap_ev = 0;
}
