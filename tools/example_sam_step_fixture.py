import sys; sys.path.insert(0, "tools")   # run from the repository root
import torch, torch.nn.functional as F
from samfixture import write_fixture

torch.manual_seed(0)
dt, N, D, hidden, classes = torch.float64, 8, 28 * 28, 32, 10
x, y = torch.randn(N, 28, 28, 1, dtype=dt), torch.randint(0, classes, (N,))
p = {"Dense_0/kernel": torch.randn(D, hidden, dtype=dt) / D ** 0.5, "Dense_0/bias": torch.zeros(hidden, dtype=dt),
     "Dense_1/kernel": torch.randn(hidden, classes, dtype=dt) / hidden ** 0.5, "Dense_1/bias": torch.zeros(classes, dtype=dt)}
rho, lr, momentum, wd = 0.05, 0.1, 0.9, 5e-4

def loss_and_grads(q):                       # the MLP of docs/PARAM_TREES.md: Dense [in, out], ReLU
    q = {k: v.clone().requires_grad_() for k, v in q.items()}
    h = torch.relu(x.reshape(N, -1) @ q["Dense_0/kernel"] + q["Dense_0/bias"])
    logits = h @ q["Dense_1/kernel"] + q["Dense_1/bias"]
    loss = F.cross_entropy(logits, y)
    return loss.detach(), logits.detach(), dict(zip(q, torch.autograd.grad(loss, list(q.values()))))

loss, logits, g1 = loss_and_grads(p)                               # first pass
norm = torch.sqrt(sum((g ** 2).sum() for g in g1.values()))        # one norm over every parameter
_, _, g2 = loss_and_grads({k: p[k] + rho * g1[k] / (norm + 1e-12) for k in p})   # gradient at the ascent point
g = {k: g2[k] + wd * p[k] for k in p}                              # weight decay at the unperturbed point
trace = {k: g[k] + momentum * 0 for k in p}                        # first step: the trace was zero
new_p = {k: p[k] - lr * trace[k] for k in p}

write_fixture("my_fixture", dtype="float64", trace_zero=True, producer="docs/FIXTURES.md worked example (PyTorch)",
              model={"name": "MLP", "num_classes": classes, "num_neurons": [hidden]},
              step={"optimizer": "sam", "rho": rho, "learning_rate": lr, "momentum": momentum, "weight_decay": wd},
              inputs={"image": x, "label": y, **{"params/" + k: v for k, v in p.items()}},
              outputs={"loss": loss, "logits": logits, **{"grads_first/" + k: v for k, v in g1.items()},
                       **{"grads/" + k: v for k, v in g.items()}, **{"trace/" + k: v for k, v in trace.items()},
                       **{"params/" + k: v for k, v in new_p.items()}})
