"""Images as records: image files (``input.format: images``), tables whose ``image_field``
holds a path or the bytes of an image, and WebDataset tar shards.

Each image is decoded once, here, in the reading workers: a file that does not decode is a
bad record (named, or quarantined with ``invalid input: ...``), and what every image op needs
is recorded on the record, so that no op decodes it again: its reference (``th_image``), size,
format, the hashes of its bytes and pixels, its perceptual hashes and quality measures
(``thresher.image.signals``). The pixels themselves never enter a stage file.

``th_image`` is ``file:<absolute path>``, ``tar:<absolute path>:<offset>:<size>`` (a member's
bytes inside a tar shard) or ``column:<name>`` (the bytes are in the record's column ``name``).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import xxhash

from ..errors import InputError
from ..image.decode import IMAGE_SUFFIXES, ImageDecodeError, decode
from .records import BadRecord, Chunk, ReadOptions, bad_record, check_reserved
from .reserved import SOURCE_COLUMN

__all__ = ["IMAGE_COLUMNS", "image_columns", "read_image_files", "attach_images", "read_webdataset",
           "is_image_file", "image_bytes", "image_reference_bytes"]

IMAGE_COLUMNS = ("th_image", "th_image_width", "th_image_height", "th_image_format", "th_image_bytes_hash",
                 "th_image_pixel_hash")

#: WebDataset member suffixes that hold a record's text, label and metadata.
_WDS_TEXT = (".txt", ".caption")
_WDS_LABEL = ".cls"
_WDS_JSON = ".json"


def is_image_file(path: Path) -> bool:
    return path.name.lower().endswith(IMAGE_SUFFIXES)


def pixel_hash(pixels: np.ndarray) -> str:
    """The xxh3-128 (hex) of decoded pixels and their shape: equal for a lossless re-encoding."""
    digest = xxhash.xxh3_128(np.asarray(pixels.shape, np.int64).tobytes())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def measure_image(data: bytes | OSError) -> dict | str:
    """The image columns of one image (its bytes, or the error reading them) but its reference,
    or the problem with it (a string). The pixels are dropped as soon as they are measured."""
    from ..image.signals import measure

    if isinstance(data, OSError):
        return f"unreadable image file ({data.strerror or data})"
    try:
        image = decode(data)
    except ImageDecodeError as exc:
        return str(exc)
    return {"th_image_width": image.width, "th_image_height": image.height, "th_image_format": image.format,
            "th_image_bytes_hash": xxhash.xxh3_128_hexdigest(data), "th_image_pixel_hash": pixel_hash(image.pixels),
            **measure(image.pixels)}


def image_columns(refs: Sequence[str], measured: Sequence[dict]) -> pa.Table:
    """The image columns of records whose images decoded (``measure_image``'s dicts)."""
    from ..image.signals import SIGNAL_SCHEMA

    fields = [pa.field("th_image_width", pa.int32()), pa.field("th_image_height", pa.int32()),
              pa.field("th_image_format", pa.string()), pa.field("th_image_bytes_hash", pa.string()),
              pa.field("th_image_pixel_hash", pa.string()), *SIGNAL_SCHEMA]
    columns = {"th_image": pa.array(refs, pa.string())}
    for field in fields:
        columns[field.name] = pa.array([m[field.name] for m in measured], field.type)
    return pa.table(columns)


# --- image files -----------------------------------------------------------------------------


def read_image_files(files: Sequence[tuple[Path, str]], opts: ReadOptions, label_from: str | None) -> Iterator[Chunk]:
    """Image files (``(path, rel)`` pairs; ``rel`` is the id) as records: ``id``, ``text`` (empty),
    ``label`` (the parent folder's name, with ``label_from: folder``), the image columns and
    ``th_source``."""
    for start in range(0, len(files), opts.batch_rows):
        part = files[start:start + opts.batch_rows]
        bad: list[BadRecord] = []
        good = []
        for path, rel in part:
            result = measure_image(_read(path))
            if isinstance(result, str):
                bad_record(rel, "", result, opts, bad)
            else:
                good.append((path, rel, result))
        if not good:
            yield None, bad
            continue
        table = image_columns([f"file:{path}" for path, _, _ in good], [m for _, _, m in good])
        head = {"id": pa.array([rel for _, rel, _ in good], pa.string()),
                "text": pa.array([""] * len(good), pa.string())}
        if label_from == "folder":
            head["label"] = pa.array([path.parent.name for path, _, _ in good], pa.string())
        columns = {**head, **{name: table.column(name) for name in table.column_names},
                   SOURCE_COLUMN: pa.array([rel for _, rel, _ in good], pa.string())}
        yield pa.Table.from_pydict(columns).combine_chunks().to_batches()[0], bad


def _read(path: Path) -> bytes | OSError:
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


# --- tables whose image_field points at images ------------------------------------------------


def image_bytes(value, base: Path) -> bytes:
    """The bytes of an ``image_field`` value: a path (relative to ``base``, the table's folder),
    bytes, or an HF ``Image`` feature's ``{bytes, path}``. Raises ``OSError`` or ``ValueError``."""
    if isinstance(value, dict):  # HF datasets' Image feature
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else base / path).read_bytes()
    raise ValueError(f"expected a path or the bytes of an image, got {type(value).__name__}")


def _reference(value, field: str, base: Path) -> str:
    if isinstance(value, dict) and not value.get("bytes"):
        value = value.get("path")
    if isinstance(value, str):
        path = Path(value).expanduser()
        return f"file:{(path if path.is_absolute() else base / path).resolve()}"
    return f"column:{field}"


def attach_images(batch: pa.RecordBatch, bad: list[BadRecord], field: str, base: Path,
                  opts: ReadOptions) -> Chunk:
    """A table's batch with the image columns of its ``field``; rows whose image cannot be
    read or decoded become bad records (or an error naming the row)."""
    if field not in batch.schema.names:
        raise InputError(f"{base}: no column {field!r}; is `image_field` correct? Columns: {batch.schema.names}")
    values = batch.column(field).to_pylist()
    sources = batch.column(SOURCE_COLUMN).to_pylist()
    bad = list(bad)
    keep, measured = [], []
    for i, value in enumerate(values):
        try:
            result = measure_image(image_bytes(value, base))
        except OSError as exc:
            result = measure_image(exc)
        except ValueError as exc:
            result = f"image field {field!r}: {exc}"
        if isinstance(result, str):
            bad_record(sources[i], batch.column("text")[i].as_py(), f"image {_shown(values[i])}: {result}", opts, bad)
        else:
            keep.append(i)
            measured.append(result)
    kept = batch.take(pa.array(keep, pa.int64())) if len(keep) != batch.num_rows else batch
    table = image_columns([_reference(values[i], field, base) for i in keep], measured)
    for name in table.column_names:
        kept = kept.append_column(name, table.column(name).combine_chunks())
    return kept, bad


def _shown(value) -> str:
    if isinstance(value, dict):
        value = value.get("path") or "(bytes)"
    if isinstance(value, (bytes, bytearray)):
        return f"({len(value)} bytes)"
    return repr(value)


def image_reference_bytes(ref: str, record: dict | None = None) -> bytes:
    """The bytes a ``th_image`` reference points at (``record``: the record, for ``column:``)."""
    kind, _, rest = ref.partition(":")
    if kind == "file":
        return Path(rest).read_bytes()
    if kind == "tar":
        path, offset, size = rest.rsplit(":", 2)
        with open(path, "rb") as handle:
            handle.seek(int(offset))
            return handle.read(int(size))
    if kind == "column" and record is not None:
        return image_bytes(record.get(rest), Path("."))
    raise ValueError(f"cannot read image reference {ref!r}")


# --- WebDataset tar shards --------------------------------------------------------------------


def read_webdataset(path: Path, rel: str, opts: ReadOptions) -> Iterator[Chunk]:
    """A WebDataset shard: members grouped by key (``dir/key.ext``: the name before the first
    dot of the base name); each group with an image is a record: id = the key (or the JSON's
    ``id_field``), text = its ``.txt``, ``label`` = its ``.cls``, the JSON's keys as columns."""
    try:
        archive = tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{rel}: not a readable tar file ({exc}).") from None
    rows: list[dict] = []
    with archive, open(path, "rb") as raw:
        group: dict = {}
        for member in _members(archive, rel):
            key, ext = _split_key(member.name)
            if group and key != group["key"]:
                rows.append(group)
                group = {}
                if len(rows) >= opts.batch_rows:
                    yield _wds_batch(rows, path, rel, raw, opts)
                    rows = []
            group.setdefault("key", key)
            group.setdefault("members", {})[ext] = member
        if group:
            rows.append(group)
        if rows:
            yield _wds_batch(rows, path, rel, raw, opts)


def _members(archive: tarfile.TarFile, rel: str):
    try:
        for member in archive:
            if member.isfile():
                yield member
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{rel}: the tar file is truncated or corrupt ({exc}).") from None


def _split_key(name: str) -> tuple[str, str]:
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (dot + ext).lower()


def _member_bytes(raw, member: tarfile.TarInfo) -> bytes:
    raw.seek(member.offset_data)
    return raw.read(member.size)


def _wds_batch(rows: list[dict], path: Path, rel: str, raw, opts: ReadOptions) -> Chunk:
    records, refs, measured, bad = [], [], [], []
    for row in rows:
        where = f"{rel}:{row['key']}"
        members = row["members"]
        image_ext = next((e for e in members if e.endswith(IMAGE_SUFFIXES) or "." + e.rsplit(".", 1)[-1]
                          in IMAGE_SUFFIXES), None)
        if image_ext is None:
            bad_record(where, "", f"no image member (members: {', '.join(sorted(members))})", opts, bad)
            continue
        record: dict = {}
        if _WDS_JSON in members:
            try:
                meta = json.loads(_member_bytes(raw, members[_WDS_JSON]))
            except ValueError as exc:
                bad_record(where, "", f"{row['key']}.json is not valid JSON ({exc})", opts, bad)
                continue
            if not isinstance(meta, dict):
                bad_record(where, "", f"{row['key']}.json must hold an object", opts, bad)
                continue
            record.update(meta)
        text_ext = next((e for e in _WDS_TEXT if e in members), None)
        text = _member_bytes(raw, members[text_ext]).decode("utf-8", "replace") if text_ext else \
            record.pop(opts.text_field, "") if isinstance(record.get(opts.text_field), str) else ""
        record.pop(opts.text_field, None)
        if _WDS_LABEL in members:
            record["label"] = _member_bytes(raw, members[_WDS_LABEL]).decode("utf-8", "replace").strip()
        ident = record.pop(opts.id_field, None) if opts.id_field else None
        member = members[image_ext]
        result = measure_image(_member_bytes(raw, member))
        if isinstance(result, str):
            bad_record(where, text, result, opts, bad)
            continue
        records.append({"id": str(ident if ident is not None else row["key"]), "text": text, **record,
                        SOURCE_COLUMN: where})
        refs.append(f"tar:{path.resolve()}:{member.offset_data}:{member.size}")
        measured.append(result)
    if not records:
        return None, bad
    good = range(len(records))
    keys = [k for k in dict.fromkeys(k for i in good for k in records[i]) if k not in ("id", "text", SOURCE_COLUMN)]
    check_reserved(keys, rel, opts)
    columns = {"id": pa.array([records[i]["id"] for i in good], pa.string()),
               "text": pa.array([records[i]["text"] for i in good], pa.string())}
    for key in keys:
        try:
            columns[key] = pa.array([records[i].get(key) for i in good])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[key] = pa.array([None if records[i].get(key) is None else json.dumps(records[i][key])
                                     for i in good], pa.string())
    table = image_columns(refs, measured)
    columns.update({name: table.column(name) for name in table.column_names})
    columns[SOURCE_COLUMN] = pa.array([records[i][SOURCE_COLUMN] for i in good], pa.string())
    return pa.Table.from_pydict(columns).combine_chunks().to_batches()[0], bad
