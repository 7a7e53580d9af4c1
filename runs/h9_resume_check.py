import sys, time, torch
from pathlib import Path
from ignite.engine import Events
from monai.bundle import ConfigWorkflow
from monai_mcrecon.bundles import BUNDLES_DIR
b = sys.argv[1]; out = Path("/tmp/h9/out_" + b)
import shutil; shutil.rmtree(out, ignore_errors=True)
common = dict(preset="tiny", max_epochs=2, iterations_per_epoch=2, batch_size=2, patch_size=[32, 32],
              checkpoint_interval=1, val_interval=10, device="cpu")
if b == "mdrn_denoise": common.update(teacher_preset="tiny"); common.pop("checkpoint_interval")
class Killed(Exception): pass
def wf(name, kill_at=None, **kw):
    w = ConfigWorkflow(config_file=str(BUNDLES_DIR / b / "configs" / "train.json"), workflow_type="train", output_dir=str(out / name), **{**common, **kw})
    w.initialize(); t = w.parser.get_parsed_content("train#trainer"); seen = []
    @t.on(Events.ITERATION_COMPLETED)
    def _k(e):
        seen.append(float(e.state.output[0]["loss"]))
        if e.state.iteration == kill_at: raise Killed()
    return w, seen
import monai_mcrecon.bundles as mb
if len(sys.argv) > 2: mb.make_data_order_resumable = lambda *a, **k: None
t0 = time.time()
full, fs = wf("full"); full.run()
k, _ = wf("run", kill_at=3)
try: k.run()
except Exception as e: print("killed", type(e).__name__)
r, rs = wf("run", resume=True); r.run()
print(len(full.parser.get_parsed_content("train#trainer").data_loader), fs, rs)
a = full.parser.get_parsed_content("network").state_dict(); c = r.parser.get_parsed_content("network").state_dict()
print(b, "equal:", all(torch.equal(a[x], c[x]) for x in a), max(float((a[x].float()-c[x].float()).abs().max()) for x in a), f"{time.time()-t0:.1f}s")
