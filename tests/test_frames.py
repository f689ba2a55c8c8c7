"""The frame-spec grammar: properties over generated specs, and every bad input named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foxden import frames
from foxden.frames import FrameSpecError

frame_sets = st.sets(st.integers(min_value=0, max_value=5000), min_size=1, max_size=200)


@given(frame_sets)
def test_format_then_parse_gives_the_same_frames(numbers: set[int]) -> None:
    assert frames.parse(frames.format(numbers)) == sorted(numbers)


@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.integers(0, 200), st.integers(1, 7)),
        min_size=1,
        max_size=8,
    )
)
def test_parse_of_generated_specs_matches_python_ranges(items: list[tuple[int, int, int]]) -> None:
    spec = ",".join(f"{a}-{a + n}[{s}]" for a, n, s in items)
    expected = sorted({f for a, n, s in items for f in range(a, a + n + 1, s)})
    assert frames.parse(spec) == expected


@given(frame_sets)
def test_format_is_never_longer_than_listing_every_frame(numbers: set[int]) -> None:
    assert len(frames.format(numbers)) <= len(",".join(map(str, sorted(numbers))))


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=300, unique=True), st.integers(1, 50))
def test_chunks_cover_every_frame_once_in_order(numbers: list[int], size: int) -> None:
    ordered = sorted(numbers)
    parts = frames.chunks(ordered, size)
    assert [f for part in parts for f in part] == ordered
    assert all(1 <= len(p) <= size for p in parts)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1-10[1]", list(range(1, 11))),
        ("1,2,3", [1, 2, 3]),
        ("1,20-30[2],494", [1, 20, 22, 24, 26, 28, 30, 494]),
        ("1073-1073[1]", [1073]),
        (" 5 , 1-3 ", [1, 2, 3, 5]),
        ("3,1,3", [1, 3]),
    ],
)
def test_vendor_examples(spec: str, expected: list[int]) -> None:
    assert frames.parse(spec) == expected


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("10-1", "'10-1' is a descending range"),
        ("1-10[0]", "step 0"),
        ("1-10[-2]", "step -2"),
        ("1,a,3", "'a'"),
        ("1-5x", "'1-5x'"),
        ("1,,2", "empty item"),
        ("-5", "negative"),
        ("0-100000", "more than 100,000 frames"),
        ("1-60000,60001-120000", "more than 100,000 frames"),
        ("1-10[1", "'1-10[1'"),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, named: str) -> None:
    with pytest.raises(FrameSpecError) as info:
        frames.parse(spec)
    assert named in str(info.value)


def test_exactly_the_limit_is_accepted() -> None:
    assert len(frames.parse("1-100000")) == 100_000


def test_format_examples() -> None:
    assert frames.format([1, 2, 3, 4]) == "1-4[1]"
    assert frames.format([0, 1, 2]) == "0,1,2"  # shorter than 0-2[1]
    assert frames.format([1, 3]) == "1,3"
    assert frames.format([1, 20, 22, 24, 26, 28, 30, 494]) == "1,20-30[2],494"
