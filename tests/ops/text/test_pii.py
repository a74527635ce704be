"""pii: what is personal (e-mails, public IPs, phones) and what only looks like it (private IPs,
section and version numbers, dates); redact vs drop."""

import pytest
from textcases import column, run

from thresher.errors import RecipeError
from thresher.ops.text.pii import PII


def _redacted(text: str, **params) -> str:
    return column(run(PII(**params), [text]), "text")[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("server 93.184.216.34 answered", "server <IP_ADDRESS> answered"),  # example.com: public
    ("8.8.4.44", "<IP_ADDRESS>"),  # a public resolver: one group of two digits is enough
    ("peer 2606:4700:4700:0:0:0:0:1111 up", "peer <IP_ADDRESS> up"),  # a public IPv6 (Cloudflare's)
    ("write to jane.doe@example.org.", "write to <EMAIL>."),
    ("call +1 415-555-0132 today", "call <PHONE> today"),
    ("or +44 20 7946 0958", "or <PHONE>"),
])
def test_personal_data_is_redacted(text, expected):
    assert _redacted(text) == expected


@pytest.mark.parametrize("text", [
    "the router at 192.168.1.1, the VPN at 10.0.0.2 and 172.16.5.4",  # private
    "localhost is 127.0.0.1 and ::1; bind to 0.0.0.0",  # loopback, unspecified
    "reserved 240.0.0.1, multicast 224.0.0.251",
    "see section 6.2.4.1, or upgrade to 1.2.3.4",  # single-digit groups: section or version numbers
    "released on 2023-02-04 11:30",  # a date and time, not a phone
    "the meeting of 2003 08 30 10 h",
    "dated 2023.10.12 11 h",  # a dotted date, not a phone
    "it costs 12.50 and weighs 3.4 kg, version 10.2.1",
])
def test_what_only_looks_personal_is_left_alone(text):
    result = run(PII(), [text])
    assert column(result, "text") == [text]
    assert [column(result, f"th_pii_{k}")[0] for k in ("email", "ip", "phone")] == [0, 0, 0]


def test_counts_each_kind():
    result = run(PII(), ["a@example.org b@example.org 93.184.216.34 +1 415-555-0132", "nothing here"])
    assert column(result, "th_pii_email") == [2, 0]
    assert column(result, "th_pii_ip") == [1, 0]
    assert column(result, "th_pii_phone") == [1, 0]
    assert result.reasons is None  # redact removes nothing


def test_only_the_listed_kinds_are_looked_for():
    assert _redacted("jane@example.org at 93.184.216.34", kinds=["email"]) == "<EMAIL> at 93.184.216.34"


TEXTS = ["mail jane.doe@example.org from 93.184.216.34", "call +1 415-555-0132", "no personal data, 10.0.0.1"]


def test_drop_removes_records_with_enough_matches_and_keeps_their_text():
    result = run(PII(action="drop"), TEXTS)
    assert list(result.reasons) == ["contains PII: 1 email, 1 ip", "contains PII: 1 phone", None]
    assert column(result, "text") == TEXTS  # dropped, not redacted
    assert list(run(PII(action="drop", min_matches=2), TEXTS).reasons) == ["contains PII: 1 email, 1 ip", None, None]


def test_rejects_an_unknown_kind():
    with pytest.raises(RecipeError, match=r"pii.kinds must be a list drawn from \['email', 'ip', 'phone'\]"):
        PII(kinds=["ssn"])
