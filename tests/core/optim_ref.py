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
