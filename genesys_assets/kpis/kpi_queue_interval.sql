-- Queue KPIs per org, queue, media type and half hour (the dataset's own buckets), all directions.
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
--   transfer_rate     nTransferred.count / tAnswered.count; a transfer is stamped when it
--                     happens, after its answer, so in one half hour this can pass 1: use
--                     kpi_queue_day for the rate
-- and the sums the ratios are made of (answer_s, handle_s, ..., sl_numerator, sl_denominator),
-- which kpi_queue_day adds up per day. A ratio whose denominator is 0 is NULL, never 0.
SELECT
    p.partition_date,
    p.org,
    p.interval_start,
    p.interval_end,
    p.queue_id,
    q.name AS queue_name,
    p.media_type,
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
    transferred / NULLIF(answered, 0) AS transfer_rate,
    answer_s, handled, handle_s, talks, talk_s, holds, hold_s, acws, acw_s, transferred,
    sl_numerator, sl_denominator
FROM (
    SELECT
        partition_date, org, interval_start, interval_end, queue_id, media_type,
        SUM(CASE WHEN metric = 'nOffered' THEN stat_count ELSE 0 END) * 1.0 AS offered,
        SUM(CASE WHEN metric = 'tAnswered' THEN stat_count ELSE 0 END) * 1.0 AS answered,
        SUM(CASE WHEN metric = 'tAnswered' THEN stat_sum ELSE 0 END) / 1000 AS answer_s,
        SUM(CASE WHEN metric = 'tAbandon' THEN stat_count ELSE 0 END) * 1.0 AS abandoned,
        SUM(CASE WHEN metric = 'oServiceLevel' THEN stat_numerator ELSE 0 END) AS sl_numerator,
        SUM(CASE WHEN metric = 'oServiceLevel' THEN stat_denominator ELSE 0 END) AS sl_denominator,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_count ELSE 0 END) * 1.0 AS handled,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_sum ELSE 0 END) / 1000 AS handle_s,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_count ELSE 0 END) * 1.0 AS talks,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_sum ELSE 0 END) / 1000 AS talk_s,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_count ELSE 0 END) * 1.0 AS holds,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_sum ELSE 0 END) / 1000 AS hold_s,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_count ELSE 0 END) * 1.0 AS acws,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_sum ELSE 0 END) / 1000 AS acw_s,
        SUM(CASE WHEN metric = 'nTransferred' THEN stat_count ELSE 0 END) * 1.0 AS transferred
    FROM {queue_performance}
    GROUP BY partition_date, org, interval_start, interval_end, queue_id, media_type
) p
LEFT JOIN {genesys_queues} q ON q.queue_id = p.queue_id AND q.org = p.org
