"""The layout of a run shared with the companion pytest (companion.units_of): every shareable test in
exactly one unit, modules whole unless a test is marked long, the longest units at both ends."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import companion


def _item(module, name, cost=None, packaging=False, cluster=False):
    markers = {"cost": SimpleNamespace(args=(cost,))} if cost is not None else {}
    if packaging:
        markers["packaging"] = SimpleNamespace(args=())
    return SimpleNamespace(
        nodeid=f"tests/{module}.py::{name}",
        get_closest_marker=markers.get,
        fixturenames=["live_cluster"] if cluster else ["tmp_path"],
    )


tests = st.lists(
    st.tuples(
        st.sampled_from("abcdef"),
        st.one_of(st.none(), st.integers(1, 60)),
        st.booleans(),
        st.booleans(),
    ),
    max_size=40,
)


@given(tests)
def test_every_shareable_test_is_in_one_unit_and_modules_stay_whole(drawn):
    items = [
        _item(module, f"t{n}", cost, packaging, cluster)
        for n, (module, cost, packaging, cluster) in enumerate(drawn)
    ]
    units = companion.units_of(items)
    laid_out = [item for unit in units for item in unit]
    assert sorted(i.nodeid for i in laid_out) == sorted(
        i.nodeid for i in items if companion.shareable(i)
    )
    for unit in units:
        marked = [i for i in unit if i.get_closest_marker("cost")]
        assert (len(unit) == 1) if marked else len({companion.module_of(i) for i in unit}) == 1
        assert [items.index(i) for i in unit] == sorted(items.index(i) for i in unit)
    unmarked = {companion.module_of(i) for i in laid_out if not i.get_closest_marker("cost")}
    assert len([u for u in units if not u[0].get_closest_marker("cost")]) == len(unmarked)


@pytest.mark.parametrize("count", [1, 2, 5, 6])
def test_the_longest_units_are_at_both_ends_and_the_shortest_in_the_middle(count):
    items = [_item(f"m{n}", "t", cost=10 * (n + 1)) for n in range(count)]
    costs = [companion.cost(unit[0]) for unit in companion.units_of(items)]
    middle = min(range(count), key=costs.__getitem__)
    assert costs[: middle + 1] == sorted(costs[: middle + 1], reverse=True)
    assert costs[middle:] == sorted(costs[middle:])
    assert max(costs) in (costs[0], costs[-1])
