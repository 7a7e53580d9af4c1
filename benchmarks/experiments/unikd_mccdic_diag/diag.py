"""Diagnose UniKDRestorationLoss term scales / gradients on the unikd_mccdic bundle (seed 0, first N iterations)."""
import sys, math, torch
from monai.bundle import ConfigParser
from monai.utils import set_determinism
import monai_mcrecon.bundles  # noqa
from monai_mcrecon.losses.distillation import as_output_and_features

N = int(sys.argv[1]) if len(sys.argv) > 1 else 60
over = dict(a.split("=", 1) for a in sys.argv[2:])
p = ConfigParser(); p.read_config("bundles/unikd_mccdic/configs/train.json")
p.update({"distill": True, "device": "$torch.device('cpu')", **{k: eval(v) for k, v in over.items()}})
set_determinism(0)
net, teacher, loss = p.get_parsed_content("network"), p.get_parsed_content("teacher"), p.get_parsed_content("unikd_loss")
sd = torch.load(p.get_parsed_content("teacher_ckpt"), map_location="cpu"); teacher.network.load_state_dict(sd.get("model", sd) if isinstance(sd, dict) and "model" in sd else sd)
teacher.eval().requires_grad_(False)
opt = p.get_parsed_content("optimizer")
dl = p.get_parsed_content("train#dataloader")
sp = [q for q in net.parameters()]
it = 0
while it < N:
    for b in dl:
        x, y = b["image"], b["label"]
        with torch.no_grad():
            tres = [as_output_and_features(teacher(x, return_features=True))]
        loss.set_epoch(1 + it // len(dl))
        pred, feats = as_output_and_features(net(x, return_features=True))
        terms = loss(pred, y, feats, tres)
        if it % 25 == 0 or it == N - 1:
            g = {}
            ws = {"loss_task": loss.w_task, "loss_out": loss.w_out, "loss_feature": loss.w_feat, "loss_supp": loss.w_supp}
            for k in ("loss_task", "loss_out", "loss_feature", "loss_supp"):
                # the feature term's actual contribution (balanced / warmed-up in v2): the total minus the other terms
                t = terms["loss"] - sum(ws[o] * terms[o] for o in ws if o != "loss_feature") if k == "loss_feature" else ws[k] * terms[k]
                if t.requires_grad:
                    gr = torch.autograd.grad(t, sp, retain_graph=True, allow_unused=True)
                    g[k] = math.sqrt(sum(float((q ** 2).sum()) for q in gr if q is not None))
                else:
                    g[k] = 0.0
            with torch.no_grad():
                ds, dt = loss.distributions(feats, tres[0][1])
                lv = " ".join(f"s{j}:{float(a[1].mean()):+.1f}/{float(a[1].min()):+.1f} t{j}:{float(c[1].mean()):+.1f}" for j, (a, c) in enumerate(zip(ds, dt)))
                fs = " ".join(f"|f_s{j}|={float(f.std()):.3g} |f_t{j}|={float(h.std()):.3g}" for j, (f, h) in enumerate(zip(feats, tres[0][1])))
            print(f"it {it:4d} " + " ".join(f"{k}={float(v):.4g}" for k, v in terms.items()) + " | grad(student) " + " ".join(f"{k}={v:.3g}" for k, v in g.items()) + f" | logvar {lv} | {fs}", flush=True)
        opt.zero_grad(); terms["loss"].backward(); opt.step()
        it += 1
        if it >= N: break
