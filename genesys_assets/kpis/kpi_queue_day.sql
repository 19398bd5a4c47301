-- Queue KPIs per queue and day, all media types and directions (the day's own totals: a
-- ratio of the day, not an average of the half hours' ratios).
-- From the long table queue_performance; queue names from genesys_queues (a queue without a
-- name keeps its rows: LEFT JOIN). Times are in seconds; Genesys reports milliseconds.
--   offered           nOffered.count
--   answered          tAnswered.count
--   abandoned         tAbandon.count
--   abandon_rate      abandoned / (answered + abandoned): of the conversations whose wait
--                     ended, the share abandoned. Genesys' own "Abandon %" divides by offered;
--                     an offer and its abandon are stamped when each happens, so in a half
--                     hour that ratio can pass 100 %; this one cannot.
--   service_level     oServiceLevel numerator / denominator, as Genesys computes them (by
--                     default: answered within the service-level target / (answered + abandoned))
--   asa_s             average speed of answer: tAnswered.sum / tAnswered.count
--   aht_s             average handle time: tHandle.sum / tHandle.count
--   avg_talk_s        tTalk.sum / tTalk.count
--   avg_hold_s        tHeld.sum / tHeld.count (per hold)
--   avg_acw_s         tAcw.sum / tAcw.count (after-call work)
--   transfer_rate     nTransferred.count / tAnswered.count
-- A ratio whose denominator is 0 is NULL, never 0.
SELECT
    p.partition_date,
    p.queue_id,
    q.name AS queue_name,
    offered,
    answered,
    abandoned,
    abandoned / NULLIF(answered + abandoned, 0) AS abandon_rate,
    sl_numerator / NULLIF(sl_denominator, 0) AS service_level,
    answered_ms / NULLIF(answered, 0) / 1000 AS asa_s,
    handle_ms / NULLIF(handled, 0) / 1000 AS aht_s,
    talk_ms / NULLIF(talks, 0) / 1000 AS avg_talk_s,
    hold_ms / NULLIF(holds, 0) / 1000 AS avg_hold_s,
    acw_ms / NULLIF(acws, 0) / 1000 AS avg_acw_s,
    transferred / NULLIF(answered, 0) AS transfer_rate
FROM (
    SELECT
        partition_date, queue_id,
        SUM(CASE WHEN metric = 'nOffered' THEN stat_count ELSE 0 END) * 1.0 AS offered,
        SUM(CASE WHEN metric = 'tAnswered' THEN stat_count ELSE 0 END) * 1.0 AS answered,
        SUM(CASE WHEN metric = 'tAnswered' THEN stat_sum ELSE 0 END) AS answered_ms,
        SUM(CASE WHEN metric = 'tAbandon' THEN stat_count ELSE 0 END) * 1.0 AS abandoned,
        SUM(CASE WHEN metric = 'oServiceLevel' THEN stat_numerator ELSE 0 END) AS sl_numerator,
        SUM(CASE WHEN metric = 'oServiceLevel' THEN stat_denominator ELSE 0 END) AS sl_denominator,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_count ELSE 0 END) * 1.0 AS handled,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_sum ELSE 0 END) AS handle_ms,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_count ELSE 0 END) * 1.0 AS talks,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_sum ELSE 0 END) AS talk_ms,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_count ELSE 0 END) * 1.0 AS holds,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_sum ELSE 0 END) AS hold_ms,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_count ELSE 0 END) * 1.0 AS acws,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_sum ELSE 0 END) AS acw_ms,
        SUM(CASE WHEN metric = 'nTransferred' THEN stat_count ELSE 0 END) * 1.0 AS transferred
    FROM {queue_performance}
    GROUP BY partition_date, queue_id
) p
LEFT JOIN {genesys_queues} q ON q.queue_id = p.queue_id
