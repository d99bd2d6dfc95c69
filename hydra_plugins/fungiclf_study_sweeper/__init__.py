"""Where Hydra finds fungiclf's Optuna sweeper: Hydra loads sweepers only from the hydra_plugins
namespace, by the class's own module. The sweeper itself is fungiclf/study_sweeper.py."""

from fungiclf.study_sweeper import StudySweeper as _Sweeper


class StudySweeper(_Sweeper):
    """hparams_search=optuna's sweeper (fungiclf.study_sweeper.StudySweeper)."""
