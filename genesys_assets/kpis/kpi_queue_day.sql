-- Queue KPIs per org, queue and day, all media types and directions: the half hours of
-- kpi_queue_interval added up, then divided (the day's own ratios, not an average of the
-- half hours' ratios). The formulas are those of kpi_queue_interval.sql; transfer_rate is
-- meaningful here, where a transfer and its answer fall in the same day.
SELECT
    partition_date,
    org,
    queue_id,
    queue_name,
    offered,
    answered,
    abandoned,
    abandoned / NULLIF(answered + abandoned, 0) AS abandon_rate,
    sl_numerator / NULLIF(sl_denominator, 0) AS service_level,
    answer_s / NULLIF(answered, 0) AS asa_s,
    handle_s / NULLIF(handled, 0) AS aht_s,
    talk_s / NULLIF(talks, 0) AS avg_talk_s,
    hold_s / NULLIF(holds, 0) AS avg_hold_s,
    acw_s / NULLIF(acws, 0) AS avg_acw_s,
    transferred / NULLIF(answered, 0) AS transfer_rate
FROM (
    SELECT
        partition_date, org, queue_id, queue_name,
        SUM(offered) AS offered, SUM(answered) AS answered, SUM(abandoned) AS abandoned,
        SUM(sl_numerator) AS sl_numerator, SUM(sl_denominator) AS sl_denominator,
        SUM(answer_s) AS answer_s, SUM(handled) AS handled, SUM(handle_s) AS handle_s,
        SUM(talks) AS talks, SUM(talk_s) AS talk_s, SUM(holds) AS holds,
        SUM(hold_s) AS hold_s, SUM(acws) AS acws, SUM(acw_s) AS acw_s,
        SUM(transferred) AS transferred
    FROM {kpi_queue_interval}
    GROUP BY partition_date, org, queue_id, queue_name
) d
