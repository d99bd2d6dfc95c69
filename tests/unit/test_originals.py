"""The report gallery's original images, found from a run's resolved dataset config."""

import cv2
import numpy as np

from fungiclf.data.originals import Originals
from fungiclf.data.synthetic import ensure_synthetic
from tests.conftest import write_npz


def test_an_npz_item_is_its_array_row_as_rgb(tmp_path):
    path = write_npz(tmp_path / "gray.npz", n=(4, 2, 3), size=28)
    with np.load(path) as arrays:
        expected = arrays["test_images"][2]
    image = Originals({"source": "npz", "path": str(path)}, None).image("test/2")
    assert image.shape == (28, 28, 3) and np.array_equal(image[..., 0], expected.reshape(28, 28))


def test_a_folder_and_the_synthetic_set_read_their_files_and_anything_else_is_none(tmp_path):
    root = ensure_synthetic(str(tmp_path), n_per_class=2, patches_per_photo=1, size=16)
    originals = Originals.of_config(
        {
            "dataset": {
                "source": "synthetic",
                "synthetic": {"n_per_class": 2, "patches_per_photo": 1, "size": 16, "seed": 0},
            },
            "paths": {"cache_dir": str(tmp_path)},
        }
    )
    item = "debris/debris_0000_0.png"
    expected = cv2.cvtColor(cv2.imread(str(root / item)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(originals.image(item), expected)
    folder = Originals({"source": "image_folder", "path": str(root)}, None)
    assert np.array_equal(folder.image(item), expected)
    assert folder.image("debris/moved_away.png") is None  # a file gone since the run
    assert Originals({"source": "npz", "path": str(tmp_path / "gone.npz")}, None).image("test/0") is None
    assert Originals({"source": "image_folder", "path": "s3://bucket/x"}, None).image(item) is None
