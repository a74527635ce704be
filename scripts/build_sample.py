#!/usr/bin/env python3
"""Build the small demo/test sample ``examples/data/sample.jsonl.gz`` from real text.

All text comes from Debian packages installed by ``scripts/install_data_packages.sh``
(fortune cookies in several languages, the Python documentation, Debian manuals, dictd
dictionaries and man pages). Nothing is generated or rewritten: documents are cut out of
the installed files (fortune records, dictionary entries, HTML sections, rendered man pages).

Deterministic: files are walked in sorted order, sampling uses a fixed seed, and the gzip
header carries mtime=0 and no file name, so two runs on the same installed packages give
byte-identical output.  Standard library only.

This module is also the extraction library used by ``bench/corpus.py``.

    python scripts/build_sample.py                # writes examples/data/sample.jsonl.gz
    python scripts/build_sample.py --out /tmp/s.jsonl.gz --seed 1
"""
from __future__ import annotations

import argparse
import base64
import collections
import concurrent.futures
import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterable, Iterator

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "examples" / "data" / "sample.jsonl.gz"
SEED = 20240607

# --------------------------------------------------------------------------------------
# Source registry: name -> (debian package, language, extractor)
# --------------------------------------------------------------------------------------

FORTUNE_DIR = Path("/usr/share/games/fortunes")
PYDOC_DIR = Path("/usr/share/doc/python3.11/html")
DEBREF_DIR = Path("/usr/share/debian-reference")
POLICY_DIR = Path("/usr/share/doc/debian-policy")
DEVREF_DIR = Path("/usr/share/developers-reference")
DICT_DIR = Path("/usr/share/dictd")

Doc = dict  # {"id", "text", "source", "lang_hint", "path"}


def make_doc(id_: str, text: str, source: str, lang: str, path: Path | str) -> Doc:
    return {"id": id_, "text": text, "source": source, "lang_hint": lang,
            "path": str(path).lstrip("/")}


def dpkg_files(package: str) -> list[Path]:
    """Sorted regular files (no symlinks, no dirs) owned by an installed Debian package."""
    try:
        out = subprocess.run(["dpkg-query", "-L", package], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    files = []
    for line in out.splitlines():
        p = Path(line.strip())
        if line.strip() and p.is_file() and not p.is_symlink():
            files.append(p)
    return sorted(set(files))


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz" or path.suffix == ".dz":
        data = gzip.decompress(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --------------------------------------------------------------------------------------
# Fortunes: records separated by lines that are exactly "%"
# --------------------------------------------------------------------------------------

_FORTUNE_SPLIT = re.compile(r"^%[ \t]*$", re.M)


def fortune_records(text: str) -> list[str]:
    recs = []
    for rec in _FORTUNE_SPLIT.split(text.replace("\r\n", "\n")):
        rec = rec.strip("\n").rstrip()
        if rec.strip():
            recs.append(rec)
    return recs


def extract_fortunes(package: str, source: str, lang: str) -> Iterator[Doc]:
    for path in dpkg_files(package):
        if not path.is_relative_to(FORTUNE_DIR) or path.suffix in (".dat", ".u8"):
            continue
        rel = path.relative_to(FORTUNE_DIR)
        # Skip the "offensive" sections (fortunes-es ships them in es/off/).
        if "off" in rel.parts[:-1]:
            continue
        for i, rec in enumerate(fortune_records(read_text(path))):
            yield make_doc(f"{source}/{rel.as_posix()}#{i}", rec, source, lang, path)


# --------------------------------------------------------------------------------------
# dictd dictionaries: .index = headword \t b64 offset \t b64 length into the .dict(.dz)
# --------------------------------------------------------------------------------------

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64V = {c: i for i, c in enumerate(_B64)}


def _b64num(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _B64V[c]
    return n


def extract_dict(name: str, source: str, lang: str = "en") -> Iterator[Doc]:
    index = DICT_DIR / f"{name}.index"
    dz = DICT_DIR / f"{name}.dict.dz"
    if not index.exists() or not dz.exists():
        return
    data = gzip.decompress(dz.read_bytes())
    seen_spans: set[tuple[int, int]] = set()
    seen_ids: collections.Counter[str] = collections.Counter()
    entries = []
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        head, off, ln = parts[0], _b64num(parts[1]), _b64num(parts[2])
        if head.startswith("00database") or head.startswith("00-database"):
            continue  # dictd metadata, not an entry
        if (off, ln) in seen_spans:
            continue  # alias headword pointing at the same entry
        seen_spans.add((off, ln))
        entries.append((off, ln, head))
    entries.sort()
    for off, ln, head in entries:
        text = data[off:off + ln].decode("utf-8", errors="replace").strip("\n").rstrip()
        if not text.strip():
            continue
        key = head.replace(" ", "_")
        seen_ids[key] += 1
        if seen_ids[key] > 1:
            key = f"{key}~{seen_ids[key]}"
        yield make_doc(f"{source}/{key}", text, source, lang, dz)


# --------------------------------------------------------------------------------------
# HTML manuals: one document per h1/h2/h3 section (stdlib html.parser)
# --------------------------------------------------------------------------------------

_SKIP_TAGS = {"script", "style", "head", "title", "nav", "noscript", "svg", "form", "button"}
_SKIP_CLASSES = {"sphinxsidebar", "related", "footer", "navheader", "navfooter", "headerlink",
                 "mobile-nav", "menu-wrapper", "breadcrumbs"}
_HEADINGS = {"h1", "h2", "h3"}
_BLOCK2 = {"p", "pre", "table", "ul", "ol", "dl", "blockquote", "section", "h4", "h5", "h6",
           "hr", "figure", "div"}
_BLOCK1 = {"br", "li", "dt", "dd", "tr", "caption"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed",
         "source", "track", "wbr"}


class SectionParser(HTMLParser):
    """Split an HTML page into (heading, text) sections at h1/h2/h3."""

    def __init__(self, main_only: bool):
        super().__init__(convert_charrefs=True)
        self.main_only = main_only      # Sphinx: keep only <div role="main">
        self.in_main = not main_only
        self.main_depth = 0             # nesting depth of the main element's tag
        self.main_tag = ""
        self.skip_tag = ""              # tag currently being skipped
        self.skip_depth = 0
        self.pre = 0
        self.in_heading = False
        self.sections: list[list[str]] = [[]]   # each: list of text pieces
        self.headings: list[str] = [""]

    # -- helpers
    def _emit(self, s: str) -> None:
        self.sections[-1].append(s)

    def handle_starttag(self, tag, attrs):
        if self.skip_tag:
            if tag == self.skip_tag and tag not in _VOID:
                self.skip_depth += 1
            return
        a = dict(attrs)
        if not self.in_main:
            if a.get("role") == "main":
                self.in_main, self.main_tag, self.main_depth = True, tag, 1
            return
        if self.main_only and tag == self.main_tag:
            self.main_depth += 1
        classes = set((a.get("class") or "").split())
        if (tag in _SKIP_TAGS or classes & _SKIP_CLASSES) and tag not in _VOID:
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag in _HEADINGS:
            self.sections.append([])
            self.headings.append("")
            self.in_heading = True
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCK2:
            self._emit("\n\n")
        elif tag in _BLOCK1:
            self._emit("\n")
        elif tag in ("td", "th"):
            self._emit("\t")
        elif tag == "img" and a.get("alt"):
            self._emit(a["alt"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.skip_tag:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = ""
            return
        if not self.in_main:
            return
        if self.main_only and tag == self.main_tag:
            self.main_depth -= 1
            if self.main_depth == 0:
                self.in_main = False
                return
        if tag in _HEADINGS:
            self.in_heading = False
            self._emit("\n\n")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._emit("\n\n")
        elif tag in _BLOCK2:
            self._emit("\n\n")

    def handle_data(self, data):
        if self.skip_tag or not self.in_main:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        if self.in_heading:
            self.headings[-1] += data
        self._emit(data)


def _clean_block_text(s: str) -> str:
    # collapse horizontal space around newlines and excess blank lines; keep <pre> indentation
    s = s.replace("\u00b6", "").replace("\xa0", " ")
    s = re.sub(r" *\t *", "\t", s)                # table cells
    s = re.sub(r"[ \t]*\n", "\n", s)            # trailing spaces
    s = re.sub(r"\n(?: (?=[^ ]))", "\n", s)      # one stray leading space from collapsing
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip()


def html_sections(html: str) -> list[tuple[str, str]]:
    p = SectionParser(main_only='role="main"' in html)
    p.feed(html)
    p.close()
    out = []
    for head, pieces in zip(p.headings, p.sections):
        text = _clean_block_text("".join(pieces))
        out.append((re.sub(r"\s+", " ", head).strip(), text))
    return out


def extract_html(files: Iterable[Path], root: Path, source: str, lang: str) -> Iterator[Doc]:
    for path in files:
        rel = path.relative_to(root).as_posix()
        for k, (_head, text) in enumerate(html_sections(read_text(path))):
            if not text:
                continue
            yield make_doc(f"{source}/{rel}#{k}", text, source, lang, path)


_HTML_SKIP_NAMES = {"genindex.html", "search.html", "py-modindex.html", "genindex-all.html"}


def _html_files(package: str, root: Path, pattern: str = r"\.html$",
                exclude: Iterable[str] = ()) -> list[Path]:
    rx = re.compile(pattern)
    excl = set(exclude)
    out = []
    for p in dpkg_files(package):
        if not p.is_relative_to(root) or not rx.search(p.name):
            continue
        rel = p.relative_to(root)
        if rel.parts[0].startswith("_") or p.name in _HTML_SKIP_NAMES:
            continue
        if p.name.startswith("genindex") or rel.as_posix() in excl:
            continue
        out.append(p)
    return out


def extract_python_doc() -> Iterator[Doc]:
    yield from extract_html(_html_files("python3.11-doc", PYDOC_DIR), PYDOC_DIR,
                            "python-doc", "en")


def extract_debref(lang: str) -> Iterator[Doc]:
    source = "debian-reference" if lang == "en" else f"debian-reference-{lang}"
    files = _html_files(f"debian-reference-{lang}", DEBREF_DIR, rf"\.{lang}\.html$")
    yield from extract_html(files, DEBREF_DIR, source, lang)


def extract_policy() -> Iterator[Doc]:
    # menu-policy-1.html / perl-policy-1.html are single-page copies of the split versions.
    files = _html_files("debian-policy", POLICY_DIR,
                        exclude={"menu-policy-1.html", "perl-policy-1.html", "README.html"})
    yield from extract_html(files, POLICY_DIR, "debian-policy", "en")


def extract_devref() -> Iterator[Doc]:
    # developers-reference.html is a single-page copy of the per-chapter pages.
    files = _html_files("developers-reference", DEVREF_DIR,
                        exclude={"developers-reference.html"})
    yield from extract_html(files, DEVREF_DIR, "developers-reference", "en")


# --------------------------------------------------------------------------------------
# Man pages: rendered with man(1) to plain text, one page per document
# --------------------------------------------------------------------------------------

_MAN_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "MANWIDTH": "80",
            "MANPAGER": "cat", "PAGER": "cat", "HOME": "/nonexistent"}


def man_page_files(package: str) -> list[Path]:
    out = []
    for p in dpkg_files(package):
        if "/man/" not in p.as_posix() or not p.name.endswith(".gz"):
            continue
        head = gzip.decompress(p.read_bytes())[:4096].decode("utf-8", "replace")
        body = [l for l in head.splitlines() if l.strip() and not l.startswith(('.\\"', "'\\\""))]
        if body and body[0].startswith(".so ") and len(body) <= 2:
            continue  # ".so other.3" redirect stub
        out.append(p)
    return out


def render_man(path: Path) -> str:
    r = subprocess.run(["man", "--nh", "--nj", "-l", "-P", "cat", str(path)],
                       capture_output=True, env=_MAN_ENV, timeout=120)
    text = r.stdout.decode("utf-8", "replace")
    text = re.sub(r".\x08", "", text)                   # overstrike, in case a pager left it
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)          # SGR escapes
    return "\n".join(l.rstrip() for l in text.splitlines()).strip("\n")


def extract_man(package: str, source: str, lang: str, files: list[Path] | None = None,
                workers: int | None = None) -> Iterator[Doc]:
    files = man_page_files(package) if files is None else files
    workers = workers or max(2, (os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for path, text in zip(files, ex.map(render_man, files)):
            if not text.strip():
                continue
            name = path.name[:-3]  # drop .gz -> "proc.5"
            yield make_doc(f"{source}/{name}", text, source, lang, path)


# --------------------------------------------------------------------------------------

SOURCES: dict[str, tuple[str, Callable[[], Iterator[Doc]]]] = {
    # name: (language, extractor)
    "fortunes": ("en", lambda: extract_fortunes("fortunes", "fortunes", "en")),
    "fortunes-min": ("en", lambda: extract_fortunes("fortunes-min", "fortunes-min", "en")),
    "fortunes-de": ("de", lambda: extract_fortunes("fortunes-de", "fortunes-de", "de")),
    "fortunes-it": ("it", lambda: extract_fortunes("fortunes-it", "fortunes-it", "it")),
    "fortunes-es": ("es", lambda: extract_fortunes("fortunes-es", "fortunes-es", "es")),
    "foldoc": ("en", lambda: extract_dict("foldoc", "foldoc")),
    "jargon": ("en", lambda: extract_dict("jargon", "jargon")),
    "devil": ("en", lambda: extract_dict("devil", "devil")),
    "python-doc": ("en", extract_python_doc),
    "debian-reference": ("en", lambda: extract_debref("en")),
    "debian-reference-fr": ("fr", lambda: extract_debref("fr")),
    "debian-policy": ("en", extract_policy),
    "developers-reference": ("en", extract_devref),
    "manpages": ("en", lambda: extract_man("manpages", "manpages", "en")),
    "manpages-dev": ("en", lambda: extract_man("manpages-dev", "manpages-dev", "en")),
    "manpages-fr": ("fr", lambda: extract_man("manpages-fr", "manpages-fr", "fr")),
}

# Debian package behind each source (for README / licence lookup)
SOURCE_PACKAGES = {
    "fortunes": "fortunes", "fortunes-min": "fortunes-min", "fortunes-de": "fortunes-de",
    "fortunes-it": "fortunes-it", "fortunes-es": "fortunes-es", "foldoc": "dict-foldoc",
    "jargon": "dict-jargon", "devil": "dict-devil", "python-doc": "python3.11-doc",
    "debian-reference": "debian-reference-en", "debian-reference-fr": "debian-reference-fr",
    "debian-policy": "debian-policy", "developers-reference": "developers-reference",
    "manpages": "manpages", "manpages-dev": "manpages-dev", "manpages-fr": "manpages-fr",
}


def extract_all(sources: Iterable[str] | None = None, log=sys.stderr) -> dict[str, list[Doc]]:
    out: dict[str, list[Doc]] = {}
    for name in (sources or SOURCES):
        docs = list(SOURCES[name][1]())
        if not docs:
            print(f"WARNING: no documents from {name} (package "
                  f"{SOURCE_PACKAGES[name]} installed?)", file=log)
        out[name] = docs
        print(f"  extracted {name:22s} {len(docs):7d} docs", file=log)
    return out


# --------------------------------------------------------------------------------------
# Sample selection
# --------------------------------------------------------------------------------------

# Documents per source in the sample (None = all).  The man page sources are sampled by
# file before rendering (rendering all ~1,700 pages takes a while).
QUOTAS: dict[str, int | None] = {
    "fortunes": 2600, "fortunes-min": 900, "fortunes-de": 1500, "fortunes-it": 1000,
    "fortunes-es": 1000, "foldoc": 1300, "jargon": 450, "devil": 300, "python-doc": 850,
    "debian-reference": 250, "debian-reference-fr": None, "debian-policy": 250,
    "developers-reference": 150, "manpages": 60, "manpages-dev": 140, "manpages-fr": 80,
}
MAX_SAMPLE_CHARS = 40_000  # longer documents (e.g. the 270 kB Python contents page) stay out
DUP_GROUPS = 250          # cross-file duplicate fortune groups forced into the sample
FORTUNE_SOURCES = ("fortunes", "fortunes-min", "fortunes-de", "fortunes-it", "fortunes-es")


def norm_key(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def select_sample(seed: int = SEED, log=sys.stderr) -> list[Doc]:
    rng = random.Random(seed)
    chosen: list[Doc] = []
    # 1. text sources other than man pages: extract all, then sample
    non_man = [s for s in SOURCES if not s.startswith("manpages")]
    pools = extract_all(non_man, log=log)

    # 2. natural duplicates: fortune records whose text appears in more than one file
    #    (e.g. the same quote in fortunes/people and fortunes-min/fortunes)
    by_key: dict[str, list[Doc]] = collections.defaultdict(list)
    for s in FORTUNE_SOURCES:
        for d in pools[s]:
            by_key[norm_key(d["text"])].append(d)
    groups = [g for k, g in sorted(by_key.items())
              if k and len({d["path"] for d in g}) > 1]
    print(f"  cross-file duplicate fortune groups: {len(groups)} "
          f"({sum(len(g) for g in groups)} records)", file=log)
    forced_ids: set[str] = set()
    for g in rng.sample(groups, min(DUP_GROUPS, len(groups))):
        for d in g:
            forced_ids.add(d["id"])

    for s in non_man:
        pool = [d for d in pools[s] if len(d["text"]) <= MAX_SAMPLE_CHARS]
        quota = QUOTAS.get(s)
        forced = [d for d in pool if d["id"] in forced_ids]
        rest = [d for d in pool if d["id"] not in forced_ids]
        k = len(pool) if quota is None else max(0, min(len(rest), quota - len(forced)))
        picked = forced + rng.sample(rest, k)
        chosen.extend(picked)

    # 3. man pages: sample files, render only those
    for s in ("manpages", "manpages-dev", "manpages-fr"):
        pkg = SOURCE_PACKAGES[s]
        files = man_page_files(pkg)
        files = sorted(rng.sample(files, min(len(files), QUOTAS[s] or len(files))))
        docs = [d for d in extract_man(pkg, s, SOURCES[s][0], files=files)
                if len(d["text"]) <= MAX_SAMPLE_CHARS]
        print(f"  rendered  {s:22s} {len(docs):7d} pages", file=log)
        chosen.extend(docs)

    ids = [d["id"] for d in chosen]
    assert len(ids) == len(set(ids)), "duplicate ids"
    chosen.sort(key=lambda d: d["id"])
    rng.shuffle(chosen)      # deterministic mixed order: any prefix covers all sources
    return chosen


def dumps(doc: Doc) -> str:
    return json.dumps({k: doc[k] for k in ("id", "text", "source", "lang_hint", "path")},
                      ensure_ascii=False)


def write_jsonl_gz(docs: list[Doc], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for d in docs:
            gz.write((dumps(d) + "\n").encode("utf-8"))
    data = buf.getvalue()
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)


def summarize(docs: list[Doc], file=sys.stdout) -> None:
    by_src: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    by_lang: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for d in docs:
        n = len(d["text"].encode("utf-8"))
        for t, k in ((by_src, d["source"]), (by_lang, d["lang_hint"])):
            t[k][0] += 1
            t[k][1] += n
    print(f"{'source':24s} {'docs':>7s} {'text bytes':>12s}", file=file)
    for k in sorted(by_src):
        print(f"{k:24s} {by_src[k][0]:7d} {by_src[k][1]:12d}", file=file)
    print(f"{'lang_hint':24s} {'docs':>7s} {'text bytes':>12s}", file=file)
    for k in sorted(by_lang):
        print(f"{k:24s} {by_lang[k][0]:7d} {by_lang[k][1]:12d}", file=file)
    short = sum(1 for d in docs if len(d["text"]) < 40)
    print(f"total: {len(docs)} docs, {sum(v[1] for v in by_src.values())} text bytes, "
          f"{short} docs shorter than 40 chars", file=file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    docs = select_sample(args.seed)
    size = write_jsonl_gz(docs, args.out)
    summarize(docs)
    print(f"wrote {args.out} ({size} bytes compressed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
