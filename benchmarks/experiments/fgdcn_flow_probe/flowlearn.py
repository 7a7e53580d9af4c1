import sys, time, torch, numpy as np
from monai.bundle import ConfigParser
from monai_mcrecon.networks.nets.fgdcn import FGDCN
from monai_mcrecon.losses.fgdcn import FlowDistillationLoss, flow_epe
torch.set_num_threads(1)
scales = tuple(int(s) for s in sys.argv[1].split(","))
init = sys.argv[2]; iters = int(sys.argv[3]); lr = float(sys.argv[4])
p = ConfigParser(); p.read_config("bundles/fgdcn_vfi/configs/train.json")
p.update({"dataset_dir": "/tmp/vtrain", "precompute_teacher": True, "teacher_cache_dir": "runs/fgdcn_teacher_cache8", "output_dir": "/tmp/diag/out", "synthetic_motion": 0.0})
ds = p.get_parsed_content("train#real_dataset")
g = torch.Generator().manual_seed(0)
dl = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, generator=g, num_workers=0, drop_last=True, collate_fn=lambda b: {k: torch.stack([(x[0] if isinstance(x, list) else x)[k] for x in b]) for k in ("frame0","frame1","label","teacher_flow")})
net = FGDCN.from_preset("small", ifblock_scales=scales)
if init != "scratch":
    net.load_state_dict(torch.load(init, map_location="cpu"))
fn = net.flow_net
initmode = sys.argv[5] if len(sys.argv) > 5 else "default"
if initmode == "kaiming":
    for name, m in fn.named_modules():
        if isinstance(m, torch.nn.Conv2d) and not (name.endswith("flow_head.2") or name.endswith("occl_convs_new.4")):
            torch.nn.init.kaiming_normal_(m.weight, a=0.25, mode="fan_in", nonlinearity="leaky_relu")
            torch.nn.init.zeros_(m.bias)
opt = torch.optim.Adam(fn.parameters(), lr=lr, betas=(0.9, 0.99))
dist = FlowDistillationLoss()
it = 0; t0 = time.time(); hist = []
fixed = next(iter(dl)) if 'overfit' in sys.argv else None
while it < iters:
    for b in (dl if fixed is None else [fixed]*1000):
        out = fn(b["frame0"], b["frame1"])
        tf = b["teacher_flow"]
        e_ref = 0.5 * (flow_epe(out["flow"][:, :2], tf[:, :2]).mean() + flow_epe(out["flow"][:, 2:], tf[:, 2:]).mean())
        e_zero = 0.5 * (tf[:, :2].norm(dim=1).mean() + tf[:, 2:].norm(dim=1).mean())
        loss = e_ref + dist(out["flow_list"], tf)
        opt.zero_grad(); loss.backward(); opt.step()
        hist.append((float(e_ref), float(e_zero)))
        it += 1
        if it % 25 == 0:
            h = np.array(hist[-25:]).mean(0)
            print(f"{scales} it {it} refinedEPE {h[0]:.3f} zeroEPE {h[1]:.3f} ratio {h[0]/h[1]:.3f} {time.time()-t0:.0f}s", flush=True)
        if it >= iters: break
torch.save(net.state_dict(), f"/tmp/diag/flow_{sys.argv[1].replace(',','')}_{init.split('/')[-1]}_{initmode}.pt")
