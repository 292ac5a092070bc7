"""Duplicate detection and removal plans: exact groups, orders, ties and strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from bson import ObjectId
from petrosa_auditor.duplicate_detector import (
    DuplicateGroup,
    Removal,
    count_duplicates,
    find_duplicates,
    insertion_ms,
    plan_removal,
)

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def oid(seconds_after_t0: int, tail: str = "0000000001") -> ObjectId:
    """An ObjectId generated ``seconds_after_t0`` after T0 (its 4-byte time, then ``tail``)."""
    stamp = T0 // 1000 + seconds_after_t0
    return ObjectId(f"{stamp:08x}{'0' * (16 - len(tail))}{tail}")


def test_only_keys_seen_more_than_once_form_groups() -> None:
    keys = [T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + MINUTE, T0 + 3 * MINUTE, T0 + 3 * MINUTE]
    ids = ["BTCUSDT_a", "BTCUSDT_b", "BTCUSDT_c", "legacy_b", "BTCUSDT_d", "legacy_d"]
    inserted = [10, 20, 30, 5, 40, 50]
    assert find_duplicates(keys, ids, inserted) == [
        DuplicateGroup(key=T0 + MINUTE, doc_ids=("legacy_b", "BTCUSDT_b"), inserted_at_ms=(5, 20)),
        DuplicateGroup(
            key=T0 + 3 * MINUTE, doc_ids=("BTCUSDT_d", "legacy_d"), inserted_at_ms=(40, 50)
        ),
    ]


def test_no_duplicates_no_groups() -> None:
    keys = np.arange(1000, dtype=np.int64) * MINUTE + T0
    ids = [f"BTCUSDT_{k}" for k in keys.tolist()]
    assert find_duplicates(keys, ids, keys) == []
    assert find_duplicates([], []) == []
    assert find_duplicates([T0], ["only"]) == []


def test_groups_come_in_key_order_with_members_in_insertion_order() -> None:
    keys = np.asarray([T0 + 2 * MINUTE, T0, T0 + 2 * MINUTE, T0, T0 + 2 * MINUTE], dtype=np.int64)
    ids = ["x1", "y1", "x2", "y2", "x3"]
    inserted = np.asarray([300, 200, 100, 100, 200], dtype=np.int64)
    groups = find_duplicates(keys, ids, inserted)
    assert [(g.key, g.doc_ids, g.inserted_at_ms) for g in groups] == [
        (T0, ("y2", "y1"), (100, 200)),
        (T0 + 2 * MINUTE, ("x2", "x3", "x1"), (100, 200, 300)),
    ]
    assert [g.surplus for g in groups] == [1, 2]
    assert count_duplicates(groups) == 3


def test_same_id_listed_twice_is_one_document_not_a_duplicate() -> None:
    assert find_duplicates([T0, T0], ["BTCUSDT_1", "BTCUSDT_1"], [1, 2]) == []
    (group,) = find_duplicates([T0, T0, T0], ["a", "b", "a"], [3, 1, 2])
    assert group.doc_ids == ("b", "a")
    assert group.inserted_at_ms == (1, 3)  # the first listing of "a" counts


def test_int_and_str_ids_with_equal_text_are_different_documents() -> None:
    (group,) = find_duplicates([T0, T0], [1, "1"], [7, 7])
    assert group.doc_ids == (1, "1")


def test_object_id_generation_time_stands_in_for_missing_inserted_at() -> None:
    old, new = oid(10), oid(20)
    (group,) = find_duplicates([T0, T0], [new, old])
    assert group.doc_ids == (old, new)
    assert group.inserted_at_ms == (T0 + 10_000, T0 + 20_000)


def test_explicit_inserted_at_wins_over_object_id_time() -> None:
    old_id, new_id = oid(10), oid(20)
    # The document with the newer ObjectId was actually written first.
    (group,) = find_duplicates([T0, T0], [old_id, new_id], [T0 + 99_000, T0 + 1_000])
    assert group.doc_ids == (new_id, old_id)


def test_aware_datetimes_are_accepted_and_naive_ones_refused() -> None:
    plus_two = timezone(timedelta(hours=2))
    inserted = [
        datetime(2024, 1, 1, 2, 0, 5, tzinfo=plus_two),  # 00:00:05Z
        datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
    ]
    (group,) = find_duplicates([T0, T0], ["a", "b"], inserted)
    assert group.doc_ids == ("b", "a")
    assert group.inserted_at_ms == (T0 + 1_000, T0 + 5_000)
    with pytest.raises(ValueError, match="naive"):
        find_duplicates([T0, T0], ["a", "b"], [datetime(2024, 1, 1), T0])


def test_unknown_insertion_time_orders_first() -> None:
    (group,) = find_duplicates([T0, T0, T0], ["known", "unknown", oid(0)], [T0 + 5, None, None])
    assert group.doc_ids == ("unknown", oid(0), "known")
    assert group.inserted_at_ms == (None, T0, T0 + 5)


def test_ties_broken_by_type_then_value_then_position() -> None:
    a, b = oid(0, "02"), oid(0, "01")
    keys = [T0] * 6
    ids = ["zeta", 9, b, "alpha", 3, a]
    (group,) = find_duplicates(keys, ids, [T0] * 6)
    # Same time: ObjectIds (by bytes), then ints, then strings.
    assert group.doc_ids == (b, a, 3, 9, "alpha", "zeta")
    # Order does not depend on input order.
    (reversed_group,) = find_duplicates(keys, ids[::-1], [T0] * 6)
    assert reversed_group.doc_ids == group.doc_ids


def test_ties_with_unusual_id_types_are_deterministic() -> None:
    ids = [("b", 1), b"raw", ("a", 2)]
    (group,) = find_duplicates([T0] * 3, ids, [1, 1, 1])
    # After ObjectId, int and str: by type name ("bytes" < "tuple"), then by repr.
    assert group.doc_ids == (b"raw", ("a", 2), ("b", 1))
    (with_str,) = find_duplicates([T0] * 4, [*ids, "s"], [1, 1, 1, 1])
    assert with_str.doc_ids[0] == "s"


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="parallel"):
        find_duplicates([T0, T0], ["a"])
    with pytest.raises(ValueError, match="inserted_at"):
        find_duplicates([T0, T0], ["a", "b"], [1])


def test_insertion_ms_rules() -> None:
    assert insertion_ms("x", 123) == 123
    assert insertion_ms("x", np.int64(456)) == 456
    assert insertion_ms(oid(3), None) == T0 + 3_000
    assert insertion_ms("x", None) is None
    assert insertion_ms(oid(3), datetime(2024, 1, 1, tzinfo=UTC)) == T0


# --- removal plans ---------------------------------------------------------------------------


@pytest.fixture
def groups() -> list[DuplicateGroup]:
    legacy = oid(5)
    keys = [T0, T0, T0, T0 + MINUTE, T0 + MINUTE]
    ids = ["BTCUSDT_1704067200000", legacy, 17, "BTCUSDT_1704067260000", "api_copy"]
    inserted = [T0 + 9_000, None, T0 + 7_000, T0 + 1_000, T0 + 2_000]
    return find_duplicates(keys, ids, inserted)


def test_keep_newest_keeps_last_inserted(groups: list[DuplicateGroup]) -> None:
    assert plan_removal(groups, "keep_newest") == [
        Removal(key=T0, keep_id="BTCUSDT_1704067200000", remove_ids=(oid(5), 17)),
        Removal(key=T0 + MINUTE, keep_id="api_copy", remove_ids=("BTCUSDT_1704067260000",)),
    ]


def test_keep_oldest_keeps_first_inserted(groups: list[DuplicateGroup]) -> None:
    assert plan_removal(groups, "keep_oldest") == [
        Removal(key=T0, keep_id=oid(5), remove_ids=(17, "BTCUSDT_1704067200000")),
        Removal(key=T0 + MINUTE, keep_id="BTCUSDT_1704067260000", remove_ids=("api_copy",)),
    ]


def test_manual_removes_nothing(groups: list[DuplicateGroup]) -> None:
    assert len(groups) == 2
    assert plan_removal(groups, "manual") == []


def test_tied_insertion_times_pick_a_stable_keeper() -> None:
    groups = find_duplicates([T0, T0], ["b", "a"], [T0, T0])
    assert plan_removal(groups, "keep_newest") == [Removal(T0, "b", ("a",))]
    assert plan_removal(groups, "keep_oldest") == [Removal(T0, "a", ("b",))]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        plan_removal([], "keep_all")  # type: ignore[arg-type]
