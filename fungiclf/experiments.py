"""Experiment rows: one sweep value picks a whole published configuration.

An experiment YAML (conf/experiment/) lists ``rows``: name -> {overrides: [Hydra
overrides], published: {metric key: value}}. Sweeping ``row=a,b,c`` runs exactly those
configurations (not a Cartesian product). Each job re-composes the config with its row's
overrides first and the command line's after, so ``trainer=smoke`` or ``dataset=...`` on
the command line still win.
"""

from hydra import compose
from omegaconf import DictConfig

from fungiclf.errors import ConfigError


def expand_row(cfg: DictConfig, task_overrides: list[str]) -> DictConfig:
    """The config of ``cfg.row`` (unchanged when the config has no rows).

    Args:
        cfg: the composed job config.
        task_overrides: the job's command-line overrides (``row=...`` among them); Hydra
            must be initialised (inside ``@hydra.main`` or ``initialize_config_module``).
    """
    row, rows = cfg.get("row"), cfg.get("rows") or {}
    if row is None and rows:  # without a row, the default model would train under the table's name
        name = cfg.get("experiment_name")
        raise ConfigError(
            f"experiment={name} is a table of rows ({', '.join(rows)}): run them all with "
            f"'fungiclf-train -m experiment={name}', or one with row=NAME"
        )
    if row is None:
        return cfg
    if not rows:
        chosen = cfg.get("experiment_name")
        raise ConfigError(
            f"row={row!r} needs an experiment that lists rows (such as experiment=defungi_models; "
            f"docs/reports.md); "
            + ("no experiment was chosen" if chosen is None else f"experiment {chosen!r} has none")
        )
    if str(row) not in rows:
        raise ConfigError(
            f"row={row!r} is not a row of experiment {cfg.get('experiment_name')!r}; rows are {list(rows)}"
        )
    row_overrides = list(rows[str(row)].get("overrides") or [])
    return compose("train", overrides=[*row_overrides, *task_overrides])
