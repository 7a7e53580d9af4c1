"""The MONAI Label app of the package: guided reconstruction / super-resolution of a study's contrast.

Start it with ``python -m monai_mcrecon.label.validation --studies <folder>`` (``monailabel start_server``
bound to 127.0.0.1; ``--host``/``--allow-remote`` for another interface, see
:func:`monai_mcrecon.label.validation.server_command`) or ``monailabel start_server --app
<repo>/monai_mcrecon/label/app_dir --studies <folder> --host 127.0.0.1`` (MONAI Label binds to every
interface without ``--host``). Request parameters are checked by :mod:`monai_mcrecon.label.validation`
(``app_dir/main.py`` imports :class:`MCReconApp`); user errors of the tasks answer 404 / 422 with
their message (:mod:`monai_mcrecon.label.errors`). The studies folder holds one file per contrast,
``<case>_t2.nii.gz`` beside ``<case>_t1.nii.gz``; inference runs on the degraded target and takes
the reference from the same study.

App ``--conf`` keys (strings): ``models`` (comma-separated subset of ``mc_cdic_recon,mc_cdic_sr``),
``simulate_acquisition`` (default for requests that do not set it, ``false``),
``skip_trainers`` (``true`` disables the train tasks).

With pydicom 3 in the environment, pass ``--uvicorn_app monai_mcrecon.label.app:asgi_app``:
MONAI Label's FastAPI app (``monailabel.app:app``) imported after the pydicom compatibility alias
(see :func:`monai_mcrecon.label.pydicom_compat`).

This module needs ``monailabel`` (installed in its own venv, see ``tools/label_venv.sh``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from monai_mcrecon.bundle.overrides import as_bool
from monai_mcrecon.label import pydicom_compat

pydicom_compat()

from monailabel.interfaces.app import MONAILabelApp  # noqa: E402
from monailabel.interfaces.tasks.infer_v2 import InferTask  # noqa: E402
from monailabel.interfaces.tasks.train import TrainTask  # noqa: E402

from monai_mcrecon.label.errors import user_errors_as_http  # noqa: E402
from monai_mcrecon.label.infer import GuidedRestorationInfer  # noqa: E402
from monai_mcrecon.label.train import GuidedRestorationTrain  # noqa: E402

__all__ = ["BUNDLES", "MCReconApp", "asgi_app"]

logger = logging.getLogger(__name__)

BUNDLES = ("mc_cdic_recon", "mc_cdic_sr")


class MCReconApp(MONAILabelApp):
    """MONAI Label app with infer tasks ``mc_cdic_recon`` / ``mc_cdic_sr`` and their train tasks
    ``train_mc_cdic_recon`` / ``train_mc_cdic_sr`` (checkpoints under ``<app_dir>/model/<task>``).

    Args:
        app_dir: the app folder (MONAI Label passes it; checkpoints of the train tasks go below it).
        studies: the studies folder (local datastore) or a remote datastore URL.
        conf: app configuration (``--conf key value`` of ``monailabel start_server``).
    """

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str] | None = None) -> None:
        conf = dict(conf or {})
        models = conf.get("models") or ",".join(BUNDLES)
        self.models = [m.strip() for m in str(models).split(",") if m.strip()]
        unknown = sorted(set(self.models) - set(BUNDLES))
        if unknown:
            raise ValueError(f"Unknown models {unknown} in conf 'models'; choose from {list(BUNDLES)}.")
        self.model_dir = os.path.join(app_dir, "model")
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai_mcrecon",
            description="Guided multi-contrast MRI reconstruction and super-resolution (MC-CDic bundles)",
            version="1.0",
            labels=None,
        )

    def infer(self, request: dict[str, Any], datastore: Any = None) -> dict[str, Any]:
        """MONAI Label's inference; a user error of the task (bad request parameter, missing reference,
        4-D image, reference on another grid...) answers 404 / 422 with its message as ``detail``
        (:func:`~monai_mcrecon.label.errors.user_errors_as_http`) instead of a bare 500 error."""
        with user_errors_as_http():
            return super().infer(request, datastore)

    def train(self, request: dict[str, Any]) -> Any:
        """MONAI Label's training (``run_sync``: in the request); user errors answer as in :meth:`infer`."""
        with user_errors_as_http():
            return super().train(request)

    def init_infers(self) -> dict[str, InferTask]:
        simulate = as_bool(self.conf.get("simulate_acquisition", "false"))
        infers: dict[str, InferTask] = {}
        for name in self.models:
            studies = getattr(self, "studies", None)
            task = GuidedRestorationInfer(bundle=name, studies=studies if studies and os.path.isdir(studies) else None)
            task._config["simulate_acquisition"] = simulate
            infers[name] = task
        return infers

    def init_trainers(self) -> dict[str, TrainTask]:
        if as_bool(self.conf.get("skip_trainers", "false")):
            return {}
        return {
            f"train_{name}": GuidedRestorationTrain(os.path.join(self.model_dir, f"train_{name}"), bundle=name)
            for name in self.models
        }

    def init_strategies(self) -> dict[str, Any]:
        from monailabel.tasks.activelearning.first import First
        from monailabel.tasks.activelearning.random import Random

        return {"random": Random(), "first": First()}


def __getattr__(name: str) -> Any:
    """``asgi_app``: MONAI Label's FastAPI application, imported after :func:`pydicom_compat`."""
    if name == "asgi_app":
        from monailabel.app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
