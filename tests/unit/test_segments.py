import numpy as np

from oscar_champions.segments import RFMChampionRule, TopPredictedValueRule, champion_rule, lifecycle_stages


def test_stages_follow_the_documented_order_of_rules(settings):
    settings.OSCAR_CHAMPIONS_AT_RISK_DAYS = 120
    settings.OSCAR_CHAMPIONS_LOST_DAYS = 365
    stages = lifecycle_stages(
        days_since_last_order=[400, 200, 10, 10, 10, 121, 120],
        orders=[9, 9, 9, 3, 1, 1, 1],
        is_champion=[True, True, True, False, False, False, False],
    )
    assert list(stages) == ["lost", "at_risk", "champions", "loyal", "new", "at_risk", "new"]


def test_the_default_champions_are_the_rfm_champions():
    assert isinstance(champion_rule(), RFMChampionRule)
    columns = {"rfm_group": np.array(["champions", "loyal"], dtype=object)}
    assert list(RFMChampionRule().select(columns, {})) == [True, False]


def test_a_shop_can_choose_another_champion_rule(settings):
    settings.OSCAR_CHAMPIONS_CHAMPION_RULE = "oscar_champions.segments.TopPredictedValueRule"
    rule = champion_rule()
    values = np.arange(100, dtype=float)
    columns = {"predicted_value_365d": values, "rfm_group": np.full(100, "loyal", dtype=object)}
    state = rule.fit(columns)
    assert rule.select(columns, state).sum() == 5
    # One customer later, judged with the stored cut-off.
    assert list(rule.select({"predicted_value_365d": np.array([99.0, 3.0])}, state)) == [True, False]


def test_top_value_rule_falls_back_to_rfm_without_a_model():
    rule = TopPredictedValueRule()
    columns = {"predicted_value_365d": np.full(2, np.nan), "rfm_group": np.array(["champions", "lost"])}
    assert list(rule.select(columns, rule.fit(columns))) == [True, False]
