"""Opening input files: decompression (gzip, zstd) whose failures name the file and say what
is wrong, and a check that a text file is not UTF-16 or UTF-32 (thresher reads UTF-8)."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

from ..errors import InputError

__all__ = ["open_binary", "read_head", "check_text_head", "decompress_error", "DECOMPRESS_ERRORS", "UTF8_BOM"]

UTF8_BOM = b"\xef\xbb\xbf"
#: What reading a compressed stream raises when the file is truncated or corrupt.
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error)
_MAGIC = {".gz": (b"\x1f\x8b", "gzip"), ".zst": (b"\x28\xb5\x2f\xfd", "zstd")}
_BLOCK = 1 << 20


def _compression(path: Path) -> tuple[bytes, str] | None:
    return next((magic for suffix, magic in _MAGIC.items() if path.name.lower().endswith(suffix)), None)


def open_binary(path: Path, rel: str) -> io.BufferedIOBase:
    """``path`` as a binary stream, decompressed by its suffix (``.gz``, ``.zst``). A file
    whose first bytes are not those of its compression is an ``InputError`` here."""
    compression = _compression(path)
    if compression is None:
        return open(path, "rb")
    magic, kind = compression
    with open(path, "rb") as f:
        start = f.read(len(magic))
    if start != magic and start:
        suffix = ".gz" if kind == "gzip" else ".zst"
        raise InputError(f"{rel}: not a {kind} file although its name ends in {suffix} (it starts with {start!r}); "
                         f"rename it without {suffix} if it is not compressed, or compress it with {kind}.")
    if kind == "gzip":
        return gzip.open(path, "rb")
    return io.BufferedReader(_ZstdFrames(open(path, "rb")), _BLOCK)


def decompress_error(exc: BaseException, rel: str, path: Path) -> InputError:
    """The ``InputError`` for a ``DECOMPRESS_ERRORS`` exception raised while reading ``path``."""
    kind = (_compression(path) or (b"", "compressed"))[1]
    if isinstance(exc, EOFError):
        return InputError(f"{rel}: the {kind} file is truncated: it ends before its compressed data does ({exc}); "
                          "copy or compress it again.")
    return InputError(f"{rel}: cannot decompress the {kind} file ({exc}); it is corrupt: copy or compress it again.")


def read_head(path: Path, rel: str, size: int = 1 << 16) -> bytes:
    """The first ``size`` bytes of ``path`` (decompressed), checked by ``check_text_head``."""
    try:
        with open_binary(path, rel) as handle:
            head = handle.read(size)
    except DECOMPRESS_ERRORS as exc:
        raise decompress_error(exc, rel, path) from None
    check_text_head(head, rel)
    return head


def check_text_head(head: bytes, rel: str) -> None:
    """Refuse a text file that starts like UTF-16 or UTF-32: a byte-order mark, or NUL bytes
    (never in UTF-8 JSON or CSV text) in a quarter of its first bytes. The whole file is refused,
    even with ``on_error: quarantine``: read as UTF-8 its lines would be split wrongly.

    >>> check_text_head('{"text": "a"}'.encode("utf-16"), "d.jsonl")
    Traceback (most recent call last):
    ...
    thresher.errors.InputError: d.jsonl: the file is UTF-16 (or UTF-32), not UTF-8; convert it to UTF-8, \
e.g. iconv -f UTF-16 -t UTF-8 d.jsonl > d.utf8.jsonl (the whole file is refused, even with on_error: quarantine).
    """
    head = head[:4096]
    bom = head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"))
    if bom or (head and head.count(0) * 4 >= len(head)):
        name = Path(rel).name
        stem, dot, suffix = name.partition(".")
        raise InputError(f"{rel}: the file is UTF-16 (or UTF-32), not UTF-8; convert it to UTF-8, e.g. iconv -f UTF-16 "
                         f"-t UTF-8 {name} > {stem}.utf8{dot}{suffix} (the whole file is refused, even with "
                         "on_error: quarantine).")


class _ZstdFrames(io.RawIOBase):
    """A zstd stream of one or more frames that raises ``EOFError`` when the file ends inside a
    frame (zstandard's ``stream_reader`` returns the partial data without a word)."""

    def __init__(self, raw) -> None:
        import zstandard

        self._zstd = zstandard
        self._raw = raw
        self._obj = None
        self._out = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not len(self._out):
            data = self._raw.read(_BLOCK)
            if not data:
                if self._obj is not None and not self._obj.eof:
                    raise EOFError("the file ends inside a zstd frame")
                return 0
            self._out = memoryview(self._feed(data))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._obj is None or self._obj.eof:
                self._obj = self._zstd.ZstdDecompressor().decompressobj()
            try:
                out.append(self._obj.decompress(data))
            except self._zstd.ZstdError as exc:
                raise OSError(str(exc)) from None
            data = self._obj.unused_data if self._obj.eof else b""
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()
