"""Evaluating runs: metrics and their intervals, figures, the run folder's files, reports."""

# The headline metrics of a split, in the order tables show them: the report's columns and
# the CV summary's keys (a light module: the report reads it without scikit-learn).
HEADLINE_METRICS = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
    "roc_auc",
    "ece",
    "brier",
    "nll",
)
