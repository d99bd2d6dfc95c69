"""What a person reads after a run: the test metrics with their intervals, per-class recall
(sensitivity / specificity for two classes), the majority-class rate, and warnings."""

from pathlib import Path


def majority_warning(metrics: dict, measured: str = "test accuracy") -> dict | None:
    """A warning (metrics.json "warnings" entry) when ``measured`` (the "test" block's
    accuracy) is no better than answering the majority class for every image. None when every
    image is of one class: there the majority answer is the label itself."""
    accuracy, baselines = metrics["test"]["accuracy"], metrics.get("baselines") or {}
    rate = baselines.get("majority_rate")
    if rate is None or rate >= 1.0 or accuracy > rate:
        return None
    return {
        "kind": "majority",
        "message": f"{measured} {accuracy:.4f} is no better than answering "
        f"{baselines['majority_class']} for every image ({rate:.4f}); look at the per-class recall and macro-F1",
    }


def _interval(test: dict, key: str) -> str:
    ci = (test.get("ci95") or {}).get(key)
    return f"{ci[0]:.4f}-{ci[1]:.4f}" if ci else ""


def summary_lines(metrics: dict, split: str = "test split") -> list[str]:
    """The Markdown table printed after a run (metrics.json content in, lines out); ``split``
    names what "test" holds in the title."""
    test, classes = metrics["test"], metrics["classes"]
    rows = [("accuracy", test["accuracy"], _interval(test, "accuracy"))]
    baselines = metrics.get("baselines") or {}
    if baselines.get("majority_rate") is not None:
        rows.append((f"majority-class rate ({baselines['majority_class']})", baselines["majority_rate"], ""))
    over = test.get("averaged_over")
    of = f", {len(over)} of {len(classes)} classes present" if over else ""
    rows += [
        (f"precision (macro{of})", test["precision_macro"], ""),
        (f"recall (macro{of})", test["recall_macro"], ""),
        (f"F1 (macro{of})", test["f1_macro"], _interval(test, "f1_macro")),
        (f"F1 (weighted{of})", test["f1_weighted"], ""),
    ]
    if test.get("roc_auc") is not None:
        rows.append(("ROC-AUC", test["roc_auc"], _interval(test, "roc_auc")))
    if test.get("ece") is not None:
        rows += [
            ("ECE (15 bins, top label)", test["ece"], _interval(test, "ece")),
            ("Brier score", test["brier"], ""),
            ("NLL", test["nll"], ""),
        ]
    if test.get("per_group"):
        rows.append(
            (f"accuracy per group ({test['per_group']['n']} groups, mean output)", test["per_group"]["accuracy"], "")
        )
    if len(classes) == 2:
        negative, positive = classes
        rows += [
            (f"sensitivity (recall of {positive})", test["sensitivity"], ""),
            (f"specificity (recall of {negative})", test["specificity"], ""),
            ("false-negative rate", test["false_negative_rate"], ""),
        ]
    else:
        rows += [
            (
                f"recall {name}" + ("" if test["per_class"][name].get("support", 1) else " (no images)"),
                test["per_class"][name]["recall"],
                "",
            )
            for name in classes
        ]
    cv = metrics.get("cv") or {}
    if cv.get("refit"):  # no val left to choose an epoch on
        epochs = ", refit on train+val" + (f" for {metrics['epochs_run']} epochs" if metrics.get("epochs_run") else "")
    elif metrics.get("epochs_run"):
        epochs = f", {metrics['epochs_run']} epochs, best {metrics['best_epoch']}"
    else:
        epochs = ""
    unit = (test.get("ci95") or {}).get("unit")
    resampling = f"; 95% CI: bootstrap over {'groups' if unit == 'group' else 'images'}" if unit else ""
    lines = [
        f"{metrics['model']} on {metrics['dataset']} ({split}, n={metrics['n_test']}{epochs}{resampling}):",
        "| metric | value | 95% CI |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {'' if value is None else f'{value:.4f}'} | {ci} |" for name, value, ci in rows]
    if positive := metrics.get("positive_class"):
        lines.append(f"positive class: {positive['name']} ({positive['chosen_by']})")
    if cv.get("val_mean"):
        lines += cv_lines(cv)
    lines += [f"WARNING: {warning['message']}" for warning in metrics.get("warnings") or []]
    return lines


def cv_lines(cv: dict) -> list[str]:
    """Mean ± sd over the folds (metrics.json's ``cv`` block): on each fold's held-out part,
    and of the fold models on the test split."""

    def spread(mean: dict, sd: dict) -> str:
        return ", ".join(
            f"{name} {mean[key]:.4f} ± {sd[key]:.4f}"
            for key, name in (("accuracy", "accuracy"), ("f1_macro", "macro-F1"), ("roc_auc", "ROC-AUC"))
            if mean.get(key) is not None and sd.get(key) is not None
        )

    lines = [
        f"cross-validation, mean ± sd over {cv['folds']} folds: held-out folds {spread(cv['val_mean'], cv['val_sd'])}"
    ]
    if cv.get("test_mean"):
        lines.append(f"  the fold models on the test split: {spread(cv['test_mean'], cv['test_sd'])}")
    return lines


def print_summary(metrics: dict, run_dir: Path) -> None:
    print("\n".join([*summary_lines(metrics), f"Run folder: {run_dir}"]), flush=True)
