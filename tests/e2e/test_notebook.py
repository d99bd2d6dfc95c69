"""docs/notebooks/python_api.ipynb runs top to bottom on the synthetic set (nbclient), so
the Python entry points it shows cannot drift from the code."""

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_the_notebook_runs_and_its_predictions_match_the_run(cache_dir, tmp_path):
    notebook = nbformat.read(REPO / "docs" / "notebooks" / "python_api.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "logreg: test accuracy" in printed and "linear: test accuracy" in printed
    assert (tmp_path / "notebook_runs" / "linear" / "metrics.json").is_file()
