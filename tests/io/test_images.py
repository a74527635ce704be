"""Images as records: image folders, tables with an image field, WebDataset shards, and every
kind of bad image named or quarantined."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from thresher import run
from thresher.errors import InputError
from thresher.image.decode import MAX_SIDE, decode
from thresher.io.images import image_reference_bytes
from thresher.io.output import read_output


def photo(seed: int, size=(48, 32)) -> Image.Image:
    """A smooth random picture (not noise: JPEG keeps it close)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.BILINEAR)


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


BAD = {
    "empty.jpg": (lambda: b"", "empty file (0 bytes)"),
    "truncated.jpg": (lambda: encoded(photo(1, (200, 150)), "JPEG")[:700], "JPEG"),
    "truncated.png": (lambda: encoded(photo(2, (200, 150)), "PNG")[:-200], "PNG"),
    "text.png": (lambda: b"this is not an image at all\n", "not an image"),
    "bomb.png": (lambda: png_header_only(30000, 30000), "decompression bomb: the header declares 30000x30000"),
}


def image_folder(root: Path) -> Path:
    for k, label in enumerate(["cats", "dogs"]):
        (root / label).mkdir(parents=True)
        for i in range(3):
            photo(10 * k + i).save(root / label / f"{label[0]}{i}.{'png' if k == 0 else 'jpg'}")
    (root / "dogs" / "notes.txt").write_text("not an image: format images skips it")
    return root


def recipe(tmp_path: Path, input_: dict, steps=(), workers=1) -> dict:
    return {"input": input_, "output": {"path": str(tmp_path / "out")}, "executor": {"workers": workers},
            "steps": list(steps)}


def test_an_image_folder_is_one_record_per_image_with_its_path_as_id_and_its_folder_as_label(tmp_path):
    root = image_folder(tmp_path / "images")
    result = run(recipe(tmp_path, {"path": str(root), "format": "images", "label_from": "folder"}))
    kept = read_output(result.output_dir).sort_by("id")
    assert kept.column("id").to_pylist() == ["cats/c0.png", "cats/c1.png", "cats/c2.png",
                                             "dogs/d0.jpg", "dogs/d1.jpg", "dogs/d2.jpg"]
    assert kept.column("label").to_pylist() == ["cats"] * 3 + ["dogs"] * 3
    assert set(kept.column("th_image_format").to_pylist()) == {"PNG", "JPEG"}
    assert kept.column("th_image_width").to_pylist() == [48] * 6
    assert kept.column("th_image_height").to_pylist() == [32] * 6
    ref = kept.column("th_image")[0].as_py()
    assert ref == f"file:{root.resolve() / 'cats' / 'c0.png'}"
    assert image_reference_bytes(ref) == (root / "cats" / "c0.png").read_bytes()
    assert kept.column("text").to_pylist() == [""] * 6
    # the stage files hold references and measures, never pixels or encoded bytes
    for shard in (result.output_dir / "_work").rglob("*.parquet"):
        assert not any(pa.types.is_binary(f.type) and f.name != "th_image_phash" and "hash" not in f.name
                       for f in pq.read_schema(shard)), shard


def test_a_single_class_folder_keeps_its_name_in_the_ids(tmp_path):
    root = image_folder(tmp_path / "images")
    result = run(recipe(tmp_path, {"path": str(root / "cats"), "format": "images"}))
    assert sorted(read_output(result.output_dir).column("id").to_pylist()) == ["c0.png", "c1.png", "c2.png"]


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_image_is_named_by_its_file(tmp_path, name):
    root = image_folder(tmp_path / "images")
    make, expected = BAD[name]
    (root / "dogs" / name).write_bytes(make())
    with pytest.raises(InputError) as info:
        run(recipe(tmp_path, {"path": str(root), "format": "images"}))
    assert f"dogs/{name}" in str(info.value) and expected in str(info.value)
    assert "on_error: quarantine" in str(info.value)


def test_bad_images_are_quarantined_with_their_reason_and_nothing_is_lost(tmp_path):
    root = image_folder(tmp_path / "images")
    for name, (make, _) in BAD.items():
        (root / "dogs" / name).write_bytes(make())
    result = run(recipe(tmp_path, {"path": str(root), "format": "images", "on_error": "quarantine"}))
    removed = {r["id"]: r["reason"] for r in read_output(result.output_dir, "removed").to_pylist()}
    assert set(removed) == {f"dogs/{n}" for n in BAD}
    for name, (_, expected) in BAD.items():
        assert removed[f"dogs/{name}"].startswith("invalid input: ") and expected in removed[f"dogs/{name}"]
    assert read_output(result.output_dir).num_rows == 6


def test_decoding_handles_orientation_cmyk_16_bit_palette_transparency_animation_and_large_images():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to show
    turned = decode(encoded(photo(3, (40, 20)), "JPEG", exif=exif.tobytes()))
    assert (turned.width, turned.height, turned.pixels.shape) == (20, 40, (40, 20, 3))

    cmyk = decode(encoded(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100))
    assert cmyk.pixels[0, 0].tolist()[0] > 240 and cmyk.pixels[0, 0].tolist()[1] < 15  # red

    deep = Image.new("I;16", (4, 4))
    deep.putpixel((0, 0), 65535)
    deep.putpixel((1, 0), 32896)
    grey = decode(encoded(deep, "PNG")).pixels
    assert grey[0, 0].tolist() == [255, 255, 255] and grey[0, 1].tolist() == [128, 128, 128]
    assert grey[1, 1].tolist() == [0, 0, 0]

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    palette.putpixel((0, 0), 0)
    flat = decode(encoded(palette, "PNG", transparency=0)).pixels
    assert flat[0, 0].tolist() == [255, 255, 255] and flat[1, 1].tolist() == [200, 0, 0]

    frames = [Image.new("RGB", (6, 6), c) for c in [(250, 0, 0), (0, 250, 0), (0, 0, 250)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    animated = decode(buffer.getvalue())
    assert animated.frames == 3 and animated.pixels[0, 0, 0] > 200 and animated.pixels[0, 0, 1] < 50

    large = decode(encoded(Image.new("RGB", (MAX_SIDE * 2 + 8, 64), (9, 9, 9)), "JPEG"))
    assert large.width == MAX_SIDE * 2 + 8 and max(large.pixels.shape) <= MAX_SIDE


def test_tables_point_at_images_by_relative_path_or_bytes(tmp_path):
    folder = tmp_path / "data"
    (folder / "pics").mkdir(parents=True)
    for i in range(3):
        photo(i).save(folder / "pics" / f"p{i}.png")
    rows = [{"id": f"r{i}", "caption": f"picture {i}", "image": f"pics/p{i}.png"} for i in range(3)]
    (folder / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.table({"id": ["b0", "b1"], "image": [encoded(photo(7), "PNG"), encoded(photo(8), "JPEG")],
                             "source": ["x", "y"]}), folder / "bytes.parquet")
    kept = {}
    for name in ("refs.jsonl", "bytes.parquet"):
        result = run(recipe(tmp_path / name, {"path": str(folder / name), "image_field": "image",
                                              "text_field": "caption"}))
        kept.update({r["id"]: r for r in read_output(result.output_dir).to_pylist()})
    assert set(kept) == {"r0", "r1", "r2", "b0", "b1"}
    assert kept["r1"]["text"] == "picture 1" and kept["r1"]["image"] == "pics/p1.png"
    assert kept["r1"]["th_image"] == f"file:{(folder / 'pics' / 'p1.png').resolve()}"
    assert kept["b0"]["text"] == "" and kept["b0"]["th_image"] == "column:image"
    assert kept["b1"]["th_image_format"] == "JPEG" and kept["b1"]["source"] == "y"
    assert image_reference_bytes(kept["b1"]["th_image"], kept["b1"]) == kept["b1"]["image"]


def test_a_table_row_whose_image_is_missing_is_named_by_its_row(tmp_path):
    rows = [{"id": "a", "image": "gone.png"}]
    (tmp_path / "refs.jsonl").write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(InputError, match=r"refs.jsonl:1: image 'gone.png': unreadable image file"):
        run(recipe(tmp_path, {"path": str(tmp_path / "refs.jsonl"), "image_field": "image"}))


def test_an_hf_dataset_with_an_image_feature(tmp_path):
    datasets = pytest.importorskip("datasets")
    paths = []
    for i in range(3):
        photo(i).save(tmp_path / f"p{i}.png")
        paths.append(str(tmp_path / f"p{i}.png"))
    ds = datasets.Dataset.from_dict({"image": paths, "label": [0, 1, 0]}).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "hf"))
    result = run(recipe(tmp_path, {"path": str(tmp_path / "hf"), "image_field": "image"}))
    kept = read_output(result.output_dir).sort_by("id")
    assert kept.num_rows == 3 and kept.column("label").to_pylist() == [0, 1, 0]
    assert kept.column("th_image_width").to_pylist() == [48] * 3


def webdataset(path: Path, keys: list[str], *, broken: str | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for i, key in enumerate(keys):
            add(f"{key}.jpg", b"garbage" if key == broken else encoded(photo(i), "JPEG"))
            add(f"{key}.json", json.dumps({"url": f"http://example.org/{key}", "width_px": 48}).encode())
            add(f"{key}.cls", str(i % 2).encode())
            add(f"{key}.txt", f"a caption for {key}".encode())
    return path


def test_a_webdataset_shard_is_one_record_per_key(tmp_path):
    shard = webdataset(tmp_path / "shard-000.tar", ["s/000", "s/001", "s/002"])
    result = run(recipe(tmp_path, {"path": str(shard)}))
    kept = {r["id"]: r for r in read_output(result.output_dir).to_pylist()}
    assert sorted(kept) == ["s/000", "s/001", "s/002"]
    assert kept["s/001"]["text"] == "a caption for s/001" and kept["s/001"]["label"] == "1"
    assert kept["s/001"]["url"] == "http://example.org/s/001"
    ref = kept["s/002"]["th_image"]
    assert ref.startswith(f"tar:{shard.resolve()}:")
    assert image_reference_bytes(ref) == encoded(photo(2), "JPEG")


def test_a_bad_image_in_a_webdataset_shard_is_quarantined_by_its_key(tmp_path):
    shard = webdataset(tmp_path / "shard-000.tar", ["k0", "k1"], broken="k1")
    result = run(recipe(tmp_path, {"path": str(shard), "on_error": "quarantine"}))
    removed = read_output(result.output_dir, "removed").to_pylist()
    assert [r["id"] for r in removed] == ["shard-000.tar:k1"]
    assert removed[0]["reason"].startswith("invalid input: not an image")


def test_exact_image_duplicates_by_bytes_and_by_pixels(tmp_path):
    root = image_folder(tmp_path / "images")
    (root / "dogs" / "copy.png").write_bytes((root / "cats" / "c0.png").read_bytes())
    Image.open(root / "cats" / "c1.png").save(root / "dogs" / "c1-again.bmp")  # same pixels, other bytes
    steps = [{"dedup_exact": {"compare": "image_bytes"}}, {"dedup_exact": {"compare": "image_pixels"}}]
    result = run(recipe(tmp_path, {"path": str(root), "format": "images"}, steps))
    removed = {r["id"]: (r["removed_by"], r["reason"], r["dup_of"])
               for r in read_output(result.output_dir, "removed").to_pylist()}
    assert removed == {
        "dogs/copy.png": ("dedup_exact", "exact duplicate: same image file bytes as cats/c0.png (group of 2)",
                          "cats/c0.png"),
        "dogs/c1-again.bmp": ("dedup_exact_2", "exact duplicate: same image pixels as cats/c1.png (group of 2)",
                              "cats/c1.png"),
    }


def test_image_records_do_not_depend_on_the_number_of_workers(tmp_path):
    root = image_folder(tmp_path / "images")
    one = run(recipe(tmp_path / "a", {"path": str(root), "format": "images", "label_from": "folder"}))
    two = run(recipe(tmp_path / "b", {"path": str(root), "format": "images", "label_from": "folder"}, workers=2))
    assert read_output(one.output_dir).sort_by("id").drop_columns(["th_source"]).equals(
        read_output(two.output_dir).sort_by("id").drop_columns(["th_source"]))


def test_image_input_options_are_checked(tmp_path):
    from thresher import Recipe
    from thresher.errors import RecipeError

    with pytest.raises(RecipeError, match="label_from: only for format: images"):
        Recipe(input={"path": "x.jsonl", "label_from": "folder"}, output="out")
    with pytest.raises(RecipeError, match="image_field: only for tables"):
        Recipe(input={"path": "x", "format": "images", "image_field": "image"}, output="out")
    with pytest.raises(InputError, match="holds no image file"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "a.txt").write_text("x")
        run(recipe(tmp_path, {"path": str(tmp_path / "empty"), "format": "images"}))


def test_the_card_lists_the_first_files_of_a_large_folder_and_counts_the_rest(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(23):
        photo(i).save(root / f"img{i:02d}.png")
    result = run(recipe(tmp_path, {"path": str(root), "format": "images"}))
    card = (result.output_dir / "README.md").read_text()
    assert "| img19.png |" in card and "| img20.png |" not in card
    assert "(3 more files, listed in manifest.json)" in card
    assert len(result.manifest["inputs"]) == 23


def test_an_image_step_on_text_records_says_how_to_read_images(tmp_path):
    from thresher.errors import RecipeError

    (tmp_path / "t.jsonl").write_text('{"text": "no image here"}\n')
    with pytest.raises(RecipeError, match=r"step 1 \(dedup_exact\) needs image records \(column "
                                          r"th_image_pixel_hash\): read images with input.format: images"):
        run(recipe(tmp_path, {"path": str(tmp_path / "t.jsonl")}, [{"dedup_exact": {"compare": "image_pixels"}}]))


def test_text_dedup_on_images_without_captions_removes_nothing(tmp_path):
    root = image_folder(tmp_path / "images")
    result = run(recipe(tmp_path, {"path": str(root), "format": "images"}, [{"dedup_exact": {}}]))
    assert result.counts["removed"] == 0 and result.counts["kept"] == 6


def test_jsonl_output_writes_hashes_in_hex_and_image_bytes_in_base64(tmp_path):
    import base64
    import gzip

    data = encoded(photo(5), "PNG")
    pq.write_table(pa.table({"id": ["a"], "image": [data]}), tmp_path / "t.parquet")
    spec = recipe(tmp_path, {"path": str(tmp_path / "t.parquet"), "image_field": "image"})
    spec["output"]["format"] = "jsonl.gz"
    result = run(spec)
    row = json.loads(gzip.decompress(next((result.output_dir / "kept").glob("*.jsonl.gz")).read_bytes()))
    assert base64.b64decode(row["image"]) == data
    assert len(row["th_image_phash"]) == 16 and int(row["th_image_phash"], 16) >= 0
