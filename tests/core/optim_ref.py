#!/usr/bin/env python3
"""Prints the parameter after each of 3 steps of torch.optim on the one-parameter
problem of test_plan.c: loss = (w - 0.5)^2, w0 = 1.5. The values in test_plan.c's
optimizer table were produced by this script; run it with a
Python that has torch (Debian: /usr/bin/python3) to regenerate them."""
import torch

CASES = [
    # name, class, kwargs
    ("sgd", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_weight_decay", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    ("adam", torch.optim.Adam, dict(lr=0.1)),
    ("adam_weight_decay", torch.optim.Adam, dict(lr=0.1, weight_decay=0.1)),
    ("adamw", torch.optim.AdamW, dict(lr=0.1, weight_decay=0.1)),
    ("adam_betas", torch.optim.Adam, dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)),
    # The learning rate drops to 0.02 after the first step (kiln_optimizer_set_lr).
    ("sgd_lr_change", torch.optim.SGD, dict(lr=0.1, momentum=0.9, lr2=0.02)),
    ("adam_lr_change", torch.optim.Adam, dict(lr=0.1, lr2=0.02)),
]

for name, cls, kw in CASES:
    lr2 = kw.pop("lr2", None)
    w = torch.tensor([1.5], dtype=torch.float32, requires_grad=True)
    opt = cls([w], **kw)
    vals = []
    for step in range(3):
        if step == 1 and lr2 is not None:
            opt.param_groups[0]["lr"] = lr2
        opt.zero_grad()
        loss = ((w - 0.5) ** 2).mean()
        loss.backward()
        opt.step()
        vals.append(w.item())
    print(f'    {{"{name}", {{' + ", ".join(f"{v:.9g}f" for v in vals) + "}},")

# Gradient clipping (test_plan.c's clip table): a = [1.5, -2, 0.25], b = [3, -1],
# loss = sum((a - 0.5)^2) + sum((b - 0.5)^2), torch.nn.utils.clip_grad_norm_ over both
# before every step; the gradients of a second run over the same batch are added first
# when "runs" is 2 (kiln: two kiln_graph_run before the step), and scaled by 1/runs.
CLIP = [
    ("sgd_clip", torch.optim.SGD, dict(lr=0.1, momentum=0.9), 1.0, 1),
    ("adam_clip", torch.optim.Adam, dict(lr=0.1), 0.5, 1),
    ("sgd_clip_two_runs", torch.optim.SGD, dict(lr=0.1, momentum=0.9), 1.0, 2),
    ("sgd_no_clip_needed", torch.optim.SGD, dict(lr=0.01), 100.0, 1),
]
for name, cls, kw, max_norm, runs in CLIP:
    a = torch.tensor([1.5, -2.0, 0.25], dtype=torch.float32, requires_grad=True)
    b = torch.tensor([3.0, -1.0], dtype=torch.float32, requires_grad=True)
    opt = cls([a, b], **kw)
    vals, norms = [], []
    for step in range(3):
        opt.zero_grad()
        for _ in range(runs):
            loss = ((a - 0.5) ** 2).sum() + ((b - 0.5) ** 2).sum()
            loss.backward()
        for p in (a, b):
            p.grad /= runs
        norms.append(torch.nn.utils.clip_grad_norm_([a, b], max_norm).item())
        opt.step()
        vals.append(a.tolist() + b.tolist())
    print(f'    {{"{name}", {float(max_norm)!r}f, {runs}, {{' + ", ".join(f"{n:.9g}f" for n in norms)
          + "}, {" + ", ".join("{" + ", ".join(f"{v:.9g}f" for v in s) + "}" for s in vals) + "}},")

# RMSprop and Adagrad (test_optim_kinds.c): the one-parameter problem above, 4 steps.
KINDS = [
    ("rmsprop", torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop_alpha_wd", torch.optim.RMSprop, dict(lr=0.05, alpha=0.9, eps=1e-6,
                                                   weight_decay=0.1)),
    ("adagrad", torch.optim.Adagrad, dict(lr=0.1)),
    ("adagrad_decay_wd", torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.5, weight_decay=0.1,
                                                   eps=1e-10)),
]
for name, cls, kw in KINDS:
    w = torch.tensor([1.5], dtype=torch.float32, requires_grad=True)
    opt = cls([w], **kw)
    vals = []
    for step in range(4):
        opt.zero_grad()
        loss = ((w - 0.5) ** 2).mean()
        loss.backward()
        opt.step()
        vals.append(w.item())
    print(f'    {{"{name}", {{' + ", ".join(f"{v:.9g}f" for v in vals) + "}},")
