"""image_quality on records whose signal columns come from thresher.image.signals.measure."""

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageFilter

from conftest import photo_like
from thresher.errors import InputError, RecipeError
from thresher.image.signals import SIGNAL_SCHEMA, measure
from thresher.ops import OpContext, build_op
from thresher.ops.examples import try_op
from thresher.ops.image.quality import ImageQuality, robust_z


def _photo(h: int = 192, w: int = 256, seed: int = 0) -> np.ndarray:
    return photo_like(h, w, seed, blocks=(32, 8, 2))


def _blur(rgb: np.ndarray, sigma: float = 3) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma)))


def _row(name: str, rgb: np.ndarray) -> dict:
    return {"id": name, "text": "", "th_image_width": rgb.shape[1], "th_image_height": rgb.shape[0], **measure(rgb)}


def _rows(images: dict[str, np.ndarray]) -> list[dict]:
    return [_row(name, rgb) for name, rgb in images.items()]


def _batch(rows: list[dict]) -> pa.RecordBatch:
    types = {"th_image_width": pa.int32(), "th_image_height": pa.int32(), **{f.name: f.type for f in SIGNAL_SCHEMA}}
    return pa.RecordBatch.from_pydict({k: pa.array([r[k] for r in rows], types.get(k)) for k in rows[0]})


PHOTOS = {f"photo{i}": _photo(seed=i) for i in range(6)}


def _rule(why: str) -> str:
    return why.split(":")[0]


def test_the_defaults_find_each_issue_and_keep_the_photos():
    photo = PHOTOS["photo0"]
    bad = {"soft": _blur(photo), "night": (photo * 0.25).astype(np.uint8),
           "washed": (255 - (255 - photo.astype(np.float64)) * 0.25).astype(np.uint8),
           "mono": np.repeat(np.asarray(Image.fromarray(photo).convert("L"))[:, :, None], 3, axis=2),
           "blank": np.full((192, 256, 3), 200, np.uint8), "tiny": _photo(20, 24), "strip": _photo(40, 256)}
    t = try_op(ImageQuality(), _rows({**PHOTOS, **bad}))
    assert t.kept == list(PHOTOS)
    assert {k: _rule(v) for k, v in t.removed.items()} == {
        "soft": "blurry", "night": "dark", "washed": "light", "mono": "grayscale", "blank": "low information",
        "tiny": "odd size", "strip": "odd aspect ratio"}


def test_an_object_on_a_white_background_is_kept():
    canvas = np.full((300, 300, 3), 255, np.uint8)
    canvas[100:200, 100:200] = _photo(100, 100)
    assert try_op(ImageQuality(), _rows({**PHOTOS, "stamp": canvas})).removed == {}


def test_a_fixed_bound_names_the_measure_the_value_and_the_parameter():
    t = try_op(ImageQuality(min_focus=0.08), _rows({"a": PHOTOS["photo0"], "soft": _blur(PHOTOS["photo0"])}))
    why = t.removed["soft"]
    assert why.startswith("blurry: focus 0.0") and why.endswith("< min_focus 0.08")
    value = float(why.split()[2])
    assert value == pytest.approx(measure(_blur(PHOTOS["photo0"]))["th_image_focus"], rel=1e-2)


def test_a_relative_bound_follows_the_dataset():
    """The same mildly soft image is an outlier among sharp photos, not among soft ones."""
    mild = _blur(PHOTOS["photo0"], 1.5)
    op = ImageQuality(issues=["blurry"], min_focus=None, focus_z=3)
    among_sharp = try_op(op, _rows({**PHOTOS, "mild": mild}))
    assert list(among_sharp.removed) == ["mild"]
    why = among_sharp.removed["mild"]
    assert why.startswith("blurry: focus ") and "(robust z -" in why and why.endswith(", focus_z 3)")
    bound = float(why.split(" < ")[1].split()[0])
    assert among_sharp.info["image_quality"]["thresholds"]["th_image_focus"] == pytest.approx(bound, rel=1e-2)
    soft = {f"soft{i}": _blur(_photo(seed=10 + i), 1.5) for i in range(6)}
    assert try_op(op, _rows({**soft, "mild": mild})).removed == {}


def test_a_fixed_and_a_relative_bound_add_up():
    images = {**PHOTOS, "soft": _blur(PHOTOS["photo0"], 3), "mild": _blur(PHOTOS["photo1"], 0.8)}
    op = ImageQuality(issues=["blurry"], min_focus=0.03, focus_z=3)
    removed = try_op(op, _rows(images)).removed
    assert "min_focus 0.03" in removed["soft"] and "focus_z 3" in removed["mild"]


def test_dark_relative_to_a_bright_dataset():
    images = {**PHOTOS, "dim": (PHOTOS["photo0"] * 0.6).astype(np.uint8)}
    assert try_op(ImageQuality(), _rows(images)).removed == {}  # not dark in absolute terms
    removed = try_op(ImageQuality(issues=["dark"], dark_z=3), _rows(images)).removed
    assert list(removed) == ["dim"] and removed["dim"].startswith("dark: dark 0.")


def test_odd_size_relative_to_the_median():
    images = {**PHOTOS, "huge": _photo(1400, 2600)}
    removed = try_op(ImageQuality(issues=["odd_size"]), _rows(images)).removed
    assert removed == {}  # 8.6 times the median: within the default size_factor 10
    removed = try_op(ImageQuality(issues=["odd_size"], size_factor=5), _rows(images)).removed
    assert removed == {"huge": "odd size: 2600x1400 is 8.61x the median size 222"}


def test_other_issues_are_named_after_the_first():
    small_dark_gray = np.full((20, 20, 3), 10, np.uint8)
    small_dark_gray[::2] = 30
    why = try_op(ImageQuality(), _rows({**PHOTOS, "x": small_dark_gray})).removed["x"]
    assert why.startswith("odd size: 20x20, shorter side 20 < min_side 32 (also ")
    assert why.endswith("(also dark, grayscale)")


def test_issues_choose_the_checks_and_the_columns_read():
    op = ImageQuality(issues=["dark", "grayscale"])
    assert op.key_columns() == ["id", "th_image_dark", "th_image_gray"]
    assert op.threshold_values() == {"th_image_dark": [0.6], "th_image_gray": [1.0]}
    assert set(ImageQuality().threshold_values()) == {f"th_image_{m}" for m in
                                                     ("entropy", "dark", "light", "focus", "sharpness", "gray")}
    assert ImageQuality().threshold_values()["th_image_sharpness"] is None  # no bound set: a plain histogram
    removed = try_op(op, _rows({**PHOTOS, "soft": _blur(PHOTOS["photo0"])})).removed
    assert removed == {}
    with pytest.raises(RecipeError, match=r"image_quality.issues: unknown \['blur'\]; choose from"):
        ImageQuality(issues=["blur"])
    assert build_op("image_quality", {"issues": ["odd_size"], "min_side": 64}).min_side == 64


def test_a_missing_signal_column_is_an_input_error_naming_it():
    batch = _batch(_rows(PHOTOS)).drop_columns(["th_image_focus"])
    with pytest.raises(InputError, match="records have no column 'th_image_focus'"):
        ImageQuality().keys(batch, OpContext(step="quality"))
    ImageQuality(issues=["dark"]).keys(batch, OpContext())  # a check that does not read it runs


def test_a_record_without_a_measure_is_an_input_error_naming_it_and_the_column():
    rows = _rows(PHOTOS)
    rows[2]["th_image_dark"] = None
    with pytest.raises(InputError, match="record 'photo2' has no value in column 'th_image_dark'"):
        ImageQuality().keys(_batch(rows), OpContext())


def test_no_records_no_decisions():
    op = ImageQuality()
    empty = _batch(_rows(PHOTOS)).slice(0, 0)
    decisions = op.decide(op.keys(empty, OpContext()), OpContext())
    assert decisions.num_rows == 0 and decisions.column_names == ["id", "reason"]


def test_robust_z_resists_outliers_and_has_a_floor():
    z = robust_z(np.array([1.0, 1.1, 0.9, 1.0, 50.0]))
    assert abs(z[:4]).max() < 1.5 and z[4] > 100
    assert robust_z(np.array([2.0, 2.0, 2.0, 2.1]), floor=0.1).tolist() == pytest.approx([0, 0, 0, 1.0], abs=1e-9)
    assert robust_z(np.array([3.0, 3.0])).tolist() == [0.0, 0.0]
