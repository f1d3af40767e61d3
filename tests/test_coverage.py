"""Officer posts: what a corner watches, the heuristic against the optimum, metrics."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passages._errors import InputError
from passages._max_cover import add_greedily, improve, undominated, value
from passages.coverage import POST_COLUMNS, CoverageModel, cover
from passages.plan import Plan
from passages.scenarios import CoverageParameters, window_minutes

SAMPLES = ("south-la", "south-central", "downtown")


@pytest.fixture(scope="module")
def plans(sample_plans: dict[str, Plan]) -> dict[str, Plan]:
    return {slug: sample_plans[slug] for slug in SAMPLES}


@pytest.fixture(scope="module")
def models(plans: dict[str, Plan]) -> dict[str, CoverageModel]:
    return {slug: CoverageModel(plan) for slug, plan in plans.items()}


def test_the_value_of_a_segment_is_demand_times_exposure(plans: dict[str, Plan],
                                                         models: dict[str, CoverageModel]) -> None:
    for slug, plan in plans.items():
        model = models[slug]
        frame = plan.segments()
        expected = frame["demand"] * frame["length_m"] * frame["risk_per_100m"] / 100.0
        assert np.allclose(model.value, expected.to_numpy())
        assert model.value_basis == "demand x exposure"
        assert (model.value[~model.passage] == 0).all() and model.total_value > 0


def test_a_corner_watches_the_segments_whose_midpoint_is_within_the_radius(
    plans: dict[str, Plan], models: dict[str, CoverageModel]
) -> None:
    # an independent computation with networkx on the undirected graph
    plan, model = plans["south-central"], models["south-central"]
    index = plan.index
    graph = nx.Graph()
    for s in range(index.n_segments):
        u, v = int(index.segment_u[s]), int(index.segment_v[s])
        if u != v and (not graph.has_edge(u, v) or graph[u][v]["length"] > index.segment_length[s]):
            graph.add_edge(u, v, length=float(index.segment_length[s]))
    passage = np.flatnonzero(model.passage)
    for node in model.candidates[:: max(1, len(model.candidates) // 25)]:
        reach = nx.single_source_dijkstra_path_length(graph, int(node), cutoff=model.radius_m, weight="length")
        far = np.inf
        ends_u = np.array([reach.get(int(u), far) for u in index.segment_u[passage]])
        ends_v = np.array([reach.get(int(v), far) for v in index.segment_v[passage]])
        midpoint = np.minimum(ends_u, ends_v) + index.segment_length[passage] / 2
        clear = np.abs(midpoint - model.radius_m) > 0.01  # leave rounding at the boundary out
        watched = model.node_watch[int(node)].toarray().ravel()[passage]
        assert np.array_equal(watched[clear], (midpoint <= model.radius_m)[clear])


def test_the_heuristic_reaches_98_percent_of_the_optimum_for_1_to_8_officers(models: dict[str, CoverageModel]) -> None:
    # south-central: plain greedy with single swaps stays below 97 % of the optimum at K = 8 here
    model = models["south-central"]
    for k in range(1, 9):
        heuristic, exact = model.greedy(k), model.exact(k)
        assert exact.status == "Optimal"
        assert len(heuristic.nodes) == len(exact.nodes) == k
        assert heuristic.value >= 0.98 * exact.value
        assert heuristic.value <= exact.value * (1 + 1e-6)  # the optimum bounds every answer


@pytest.mark.parametrize("mode", ["posts", "footbeats", "both"])
def test_coverage_never_decreases_when_an_officer_is_added(
    plans: dict[str, Plan], models: dict[str, CoverageModel], mode: str
) -> None:
    for slug in ("south-la", "downtown"):
        shares = [cover(plans[slug], CoverageParameters(officers=k, mode=mode), model=models[slug])
                  .metrics["exposure_share"] for k in range(1, 9)]
        assert all(b >= a - 1e-12 for a, b in itertools.pairwise(shares)), (slug, shares)
        assert shares[-1] > shares[0]


def test_posts_are_documented_ranked_and_add_up(plans: dict[str, Plan], models: dict[str, CoverageModel]) -> None:
    plan, model = plans["downtown"], models["downtown"]
    coverage = cover(plan, CoverageParameters(officers=5, mode="posts"), model=model)
    posts = coverage.posts
    assert tuple(c for c in posts.columns if c != "geometry") == POST_COLUMNS
    assert posts.crs == plan.index.crs and len(posts) == 5 and posts["node"].is_unique
    assert list(posts["rank"]) == [1, 2, 3, 4, 5]
    assert (np.diff(posts["value"].to_numpy()) <= 1e-9).all()  # each next post adds less
    assert posts["value"].sum() == pytest.approx(model.greedy(5).value)
    assert posts["value_share"].sum() == pytest.approx(coverage.metrics["exposure_share"])
    west, south, east, north = plan.area.study_polygon.bounds
    assert posts["lon"].between(west, east).all() and posts["lat"].between(south, north).all()
    assert all(name and name != "unnamed corner" for name in posts["corner"])
    assert set(posts["window"]) == {", ".join(plan.params.windows)}


def test_metrics_follow_their_definitions(plans: dict[str, Plan], models: dict[str, CoverageModel]) -> None:
    plan, model = plans["south-la"], models["south-la"]
    params = CoverageParameters(officers=3, mode="both", stop_minutes=12)
    coverage = cover(plan, params, model=model)
    metrics = coverage.metrics
    frame = plan.passages()
    watched = coverage.watched[frame["segment"].to_numpy()]
    walker_m = frame["demand"] * frame["length_m"]
    assert metrics["demand_share"] == pytest.approx(walker_m[watched].sum() / walker_m.sum())
    assert metrics["watched_km"] == pytest.approx(frame["length_m"][watched].sum() / 1000)
    assert metrics["passage_km"] == pytest.approx(plan.route_set.passage_km)
    assert metrics["officer_hours"] == pytest.approx(3 * sum(window_minutes(plan.params.windows)) / 60)
    assert (metrics["posts"], metrics["loops"]) == (2, 1)
    assert 0 < metrics["demand_share"] <= 1 and 0 < metrics["exposure_share"] <= 1
    # a post gives the segments it watches 60 / stop_minutes visits per hour, a loop 60 / its lap minutes
    post_watch = model.watched_by(coverage.posts["node"].to_numpy())
    only_posts = post_watch & ~coverage.loops[0].watched(model)
    assert np.allclose(coverage.visits_per_hour[only_posts & model.passage], 60 / 12)
    hot = model.passage & model.hot
    assert metrics["dosage_per_hot"] == pytest.approx(coverage.visits_per_hour[hot].mean())


def test_same_inputs_give_the_same_posts_and_loops(plans: dict[str, Plan]) -> None:
    params = CoverageParameters(officers=4, mode="both")
    first, second = (cover(plans["downtown"], params) for _ in range(2))
    assert first.posts.drop(columns="geometry").equals(second.posts.drop(columns="geometry"))
    assert [b.nodes.tolist() for b in first.loops] == [b.nodes.tolist() for b in second.loops]
    assert first.metrics == second.metrics


def test_impossible_values_are_refused(plans: dict[str, Plan]) -> None:
    with pytest.raises(InputError, match="cover_radius_m"):
        CoverageModel(plans["south-la"], radius_m=-5)
    with pytest.raises(InputError, match="officers"):
        cover(plans["south-la"], CoverageParameters(officers=0))
    with pytest.raises(InputError, match="officers"):
        CoverageModel(plans["south-la"]).greedy(0)


# -- the search on small made-up instances, against brute force -----------------------------

instances = st.integers(min_value=0, max_value=2**32 - 1).map(np.random.default_rng).map(
    lambda rng: (rng.random((int(rng.integers(3, 13)), int(rng.integers(2, 16)))) < rng.uniform(0.1, 0.5),
                 rng.integers(1, 20, size=16).astype(float))
)


@settings(max_examples=60, deadline=None)
@given(instance=instances, k=st.integers(1, 4))
def test_local_search_is_never_below_greedy_nor_above_the_optimum(instance: tuple[np.ndarray, np.ndarray],
                                                                  k: int) -> None:
    cover_matrix, weights = instance
    weights = weights[: cover_matrix.shape[1]]
    rows = undominated(cover_matrix)
    k = min(k, len(rows)) or 1
    if len(rows) == 0:
        return
    reduced = cover_matrix[rows].astype(float)
    optimum = max(value(cover_matrix, weights, list(c)) for c in itertools.combinations(range(len(cover_matrix)), k))
    greedy = add_greedily(reduced, weights, [], k)
    improved = improve(reduced, weights, greedy, 1e-12)
    assert len(set(improved)) == len(improved) == k
    assert value(reduced, weights, greedy) - 1e-9 <= value(reduced, weights, improved) <= optimum + 1e-9
    # removing contained rows keeps the optimum
    assert max(value(reduced, weights, list(c)) for c in itertools.combinations(range(len(rows)), k)) == optimum
    # greedy's guarantee for maximum coverage
    assert value(reduced, weights, improved) >= (1 - 1 / np.e) * optimum - 1e-9
