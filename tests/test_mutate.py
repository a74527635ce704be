"""scripts/mutate.py: every mutant still applies to the source, and names tests that exist."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_once_and_names_existing_tests():
    mutate = _script()
    assert len(mutate.MUTANTS) >= 10
    for mutant in mutate.MUTANTS:
        assert mutate.check_applies(mutant, ROOT / "src") is None, mutant.description
        assert mutant.old != mutant.new and mutant.tests, mutant.description
        for test in mutant.tests:
            assert (ROOT / test.split("::")[0]).is_file(), test
