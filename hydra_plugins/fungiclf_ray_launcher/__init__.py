"""Where Hydra finds fungiclf's Ray launcher (hydra/launcher=ray_cluster, =ray): Hydra loads
launchers only from the hydra_plugins namespace. The launcher itself is fungiclf/ray_launcher.py."""

import warnings

from fungiclf.ray_launcher import RayLauncher as _Launcher

# conf/hydra/launcher/ray.yaml takes the place of the launcher config Hydra's own plugin
# registers under that name, whose settings Hydra merges under it ("validated against
# ConfigStore schema"): intended here, so its deprecation warning is not shown.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/ray' is validated against ConfigStore schema")


class RayLauncher(_Launcher):
    """hydra/launcher=ray_cluster's launcher (fungiclf.ray_launcher.RayLauncher)."""
