"""Finding input files and telling their format."""

from __future__ import annotations

import glob
from pathlib import Path

from ..errors import InputError

__all__ = ["FORMATS", "detect_format", "list_input_files", "is_hf_dataset_dir", "content_hash"]

#: Suffix -> reader format.
FORMATS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json.gz": "jsonl",
    ".jsonl.zst": "jsonl",
    ".json.zst": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".arrow": "arrow",
    ".tar": "webdataset",
}


def detect_format(path: Path) -> str:
    """The reader format of ``path`` from its suffixes, or an ``InputError`` naming the allowed ones."""
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    allowed = ", ".join(sorted(FORMATS))
    raise InputError(f"{path}: cannot read this file type; expected one of {allowed} "
                     "or an HF `datasets` directory saved with save_to_disk().")


def is_hf_dataset_dir(path: Path) -> bool:
    """True for a directory written by ``datasets.Dataset.save_to_disk``."""
    return path.is_dir() and (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def list_input_files(patterns: list[str], base_dir: Path, *, images: bool = False) -> list[Path]:
    """Expand files, directories and globs (relative to ``base_dir``) into a sorted, unique list;
    with ``images``, only the image files among them (``input.format: images``)."""
    found: list[Path] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(full) else [full]
        if not matches or not all(Path(m).exists() for m in matches):
            raise InputError(f"input path {pattern!r} matches no file (looked in {base_dir}).")
        for match in map(Path, matches):
            found.extend(_expand(match))
    unique = sorted(set(p.resolve() for p in found))
    if images:
        from ..image.decode import IMAGE_SUFFIXES

        unique = [p for p in unique if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)]
        if not unique:
            raise InputError(f"input {patterns!r} holds no image file (format: images reads "
                             f"{', '.join(IMAGE_SUFFIXES)}).")
    if not unique:
        raise InputError(f"input {patterns!r} holds no readable file.")
    return unique


def _expand(path: Path) -> list[Path]:
    if not path.is_dir() or is_hf_dataset_dir(path):
        return [path]
    files = []
    for child in sorted(path.rglob("*")):
        if child.is_dir() and is_hf_dataset_dir(child):
            files.append(child)
        elif child.is_file() and not child.name.startswith((".", "_")) and not _inside_hf_dir(child, path):
            files.append(child)
    return files


def _inside_hf_dir(child: Path, root: Path) -> bool:
    return any(is_hf_dataset_dir(parent) for parent in child.parents if parent != root and root in parent.parents)


def content_hash(path: Path, block: int = 4 << 20) -> str:
    """The xxh3-128 (hex) of a file's bytes, read in blocks of ``block`` bytes; for a directory
    (an HF dataset), of its files' relative paths, sizes and bytes, in path order. It is what
    stages are fingerprinted by: a file whose content changed recomputes, whatever its mtime."""
    import xxhash

    digest = xxhash.xxh3_128()
    buffer = bytearray(block)
    view = memoryview(buffer)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if file != path:
            digest.update(f"{file.relative_to(path)}\0{file.stat().st_size}\0".encode("utf-8", "surrogateescape"))
        with open(file, "rb", buffering=0) as source:
            while n := source.readinto(buffer):
                digest.update(view[:n])
    return digest.hexdigest()
