"""``pii``: find e-mail addresses, IP addresses and phone numbers; redact them or drop the record."""

from __future__ import annotations

import ipaddress
import re

import pyarrow as pa

from ...params import Param
from ..base import OpContext, RowOp, RowResult, reason
from ..columns import set_columns
from ..registry import register_op

__all__ = ["PII"]

# E-mail: the pattern of datatrove's PIIFormatter / BigScience ROOTS (simplified RFC 5322 local part).
EMAIL = re.compile(r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                   r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)")
IPV6 = re.compile(r"(?<![:\w])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?![:\w])"
                  r"|(?<![:\w])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![:\w])")
# Phones: an international (+CC) or (area) prefix, then groups of digits; >= 9 digits in all.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){2,4}(?![\w])")

KINDS = ("email", "ip", "phone")

# Cheap tests that rule a pattern out before the regex scans the whole text.
_HAS_DIGIT_DOT = re.compile(r"\d\.\d")
_HAS_DIGITS = re.compile(r"\d[\s.()-]?\d")


def _maybe_email(text: str) -> bool:
    return "@" in text


def _maybe_ipv4(text: str) -> bool:
    return _HAS_DIGIT_DOT.search(text) is not None


def _maybe_ipv6(text: str) -> bool:
    return "::" in text or text.count(":") >= 2


def _maybe_phone(text: str) -> bool:
    return _HAS_DIGITS.search(text) is not None


_DATE_LIKE = re.compile(r"(?:19|20)\d\d[\s./-](?:0?[1-9]|1[0-2])(?:\D|$)")


def _valid_ip(text: str) -> bool:
    if "." in text and all(len(part) == 1 for part in text.split(".")):
        return False  # 6.2.4.1: a section or version number far more often than an address
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_reserved or ip.is_multicast)


def _valid_phone(text: str) -> bool:
    if _DATE_LIKE.match(text):
        return False  # 2023-02-04 11, 2003 08 30: dates and times, not phones
    digits = sum(c.isdigit() for c in text)
    return 9 <= digits <= 15 and ("+" in text or "(" in text or "-" in text or " " in text)


@register_op("pii")
class PII(RowOp):
    """Personally identifiable information: e-mail addresses, IP addresses, phone numbers.

    ``action: redact`` (default) replaces each match with a placeholder (``<EMAIL>``,
    ``<IP_ADDRESS>``, ``<PHONE>``), as FineWeb does for e-mails and public IPs (Penedo et al. 2024,
    Sec. 3.7) and BigScience ROOTS for e-mails and phones (Laurençon et al. 2022); ``drop``
    removes records with at least ``min_matches`` matches. Private, loopback and reserved IPs
    (192.168.x.x, 127.0.0.1, 10.x...) are not personal and are left alone, as in FineWeb; so
    are dotted numbers of single digits (``6.2.4.1`` is a section number far more often than an
    address) and date-like digit groups (``2023-02-04 11``), which the phone pattern would match.
    Writes the number of matches per kind (``th_pii_email``, ``th_pii_ip``, ``th_pii_phone``).

    Examples
    --------
    >>> import pyarrow as pa
    >>> b = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["mail jane.doe@example.org or 93.184.216.34"]})
    >>> PII().process(b, OpContext()).batch.column("text")[0].as_py()
    'mail <EMAIL> or <IP_ADDRESS>'
    """

    params = {
        "kinds": Param(list, list(KINDS), "which kinds of PII to look for", item=str),
        "action": Param(str, "redact", "replace matches with placeholders, or drop the record",
                        choices=("redact", "drop")),
        "min_matches": Param(int, 1, "with action: drop, the matches that make a record go", low=1),
    }
    writes = tuple(f"th_pii_{k}" for k in KINDS)

    def validate(self) -> None:
        from ...errors import RecipeError

        bad = [k for k in self.kinds if k not in KINDS]
        if bad:
            raise RecipeError(f"pii.kinds must be a list drawn from {list(KINDS)}, got {bad!r}.")

    def process(self, batch: pa.RecordBatch, ctx: OpContext) -> RowResult:
        texts = batch.column("text").to_pylist()
        counts = {k: [0] * len(texts) for k in KINDS}
        out, reasons = [], []
        for i, text in enumerate(texts):
            new_text, found = self._scan(text)
            for kind, n in found.items():
                counts[kind][i] = n
            total = sum(found.values())
            drop = self.action == "drop" and total >= self.min_matches
            detail = ", ".join(f"{n} {k}" for k, n in found.items() if n)
            reasons.append(reason("contains PII", detail) if drop else None)
            out.append(new_text if self.action == "redact" else text)
        columns = {f"th_pii_{k}": pa.array(v, pa.int64()) for k, v in counts.items()}
        columns["text"] = pa.array(out, pa.string())
        return RowResult(set_columns(batch, columns), reasons if self.action == "drop" else None)

    def _scan(self, text: str) -> tuple[str, dict[str, int]]:
        found = {k: 0 for k in KINDS}
        for kind, pattern, placeholder, ok, maybe in self._rules():
            if not maybe(text):
                continue

            def sub(m: re.Match, kind=kind, placeholder=placeholder, ok=ok) -> str:
                if ok is not None and not ok(m.group(0)):
                    return m.group(0)
                found[kind] += 1
                return placeholder
            text = pattern.sub(sub, text)
        return text, found

    def _rules(self):
        rules = []
        if "email" in self.kinds:
            rules.append(("email", EMAIL, "<EMAIL>", None, _maybe_email))
        if "ip" in self.kinds:
            rules.append(("ip", IPV4, "<IP_ADDRESS>", _valid_ip, _maybe_ipv4))
            rules.append(("ip", IPV6, "<IP_ADDRESS>", _valid_ip, _maybe_ipv6))
        if "phone" in self.kinds:
            rules.append(("phone", PHONE, "<PHONE>", _valid_phone, _maybe_phone))
        return rules
