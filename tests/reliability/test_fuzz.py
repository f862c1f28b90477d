"""A small, seeded slice of the byte-mutation fuzzing of ``fuzz_open.py`` (the full campaign is a script).

Every mutant of an NWB file goes through the full remote open and a read of every key, and must end
within 30 s and +500 MB with a napstream error or exactly the local result of the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz_open import campaign

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "realnwb" / "pynwb__2.3.2_old_electrodes_table_full.nwb"

pytestmark = [pytest.mark.network, pytest.mark.slow, pytest.mark.timeout(240)]


def test_mutants_end_in_a_napstream_error_or_the_right_result(rel_session, tmp_path):
    bases = [rel_session, REAL] if REAL.exists() else [rel_session]
    outcomes = campaign(bases, n_cases=12, seed=20261203, workdir=tmp_path)
    failed = [f"{o.name}: {'; '.join(o.failures)}" for o in outcomes if o.failed]
    assert not failed, "\n".join(failed)
    assert len(outcomes) == 12
    kinds = {o.kind for o in outcomes}
    assert "napstream_error" in kinds  # the mutants do damage: some are refused
    assert max(o.seconds for o in outcomes) < 30
