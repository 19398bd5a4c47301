-- Agent KPIs per agent and day, all queues and media types. From the long table
-- agent_performance; names from genesys_users (deleted agents included: agents who left keep
-- their past days). Times in seconds; Genesys reports milliseconds.
--   handled        tHandle.count (conversations the agent handled)
--   answered       tAnswered.count
--   aht_s          average handle time: tHandle.sum / tHandle.count
--   avg_talk_s     tTalk.sum / tTalk.count
--   avg_hold_s     tHeld.sum / tHeld.count (per hold)
--   avg_acw_s      tAcw.sum / tAcw.count (after-call work)
--   talk_s, hold_s, acw_s, handle_s   the day's totals
--   transfer_rate  nTransferred.count / tAnswered.count
-- A ratio whose denominator is 0 is NULL, never 0.
SELECT
    a.partition_date,
    a.user_id,
    u.name AS agent_name,
    u.state AS agent_state,
    handled,
    answered,
    handle_ms / NULLIF(handled, 0) / 1000 AS aht_s,
    talk_ms / NULLIF(talks, 0) / 1000 AS avg_talk_s,
    hold_ms / NULLIF(holds, 0) / 1000 AS avg_hold_s,
    acw_ms / NULLIF(acws, 0) / 1000 AS avg_acw_s,
    handle_ms / 1000 AS handle_s,
    talk_ms / 1000 AS talk_s,
    hold_ms / 1000 AS hold_s,
    acw_ms / 1000 AS acw_s,
    transferred / NULLIF(answered, 0) AS transfer_rate
FROM (
    SELECT
        partition_date, user_id,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_count ELSE 0 END) * 1.0 AS handled,
        SUM(CASE WHEN metric = 'tHandle' THEN stat_sum ELSE 0 END) AS handle_ms,
        SUM(CASE WHEN metric = 'tAnswered' THEN stat_count ELSE 0 END) * 1.0 AS answered,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_count ELSE 0 END) * 1.0 AS talks,
        SUM(CASE WHEN metric = 'tTalk' THEN stat_sum ELSE 0 END) AS talk_ms,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_count ELSE 0 END) * 1.0 AS holds,
        SUM(CASE WHEN metric = 'tHeld' THEN stat_sum ELSE 0 END) AS hold_ms,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_count ELSE 0 END) * 1.0 AS acws,
        SUM(CASE WHEN metric = 'tAcw' THEN stat_sum ELSE 0 END) AS acw_ms,
        SUM(CASE WHEN metric = 'nTransferred' THEN stat_count ELSE 0 END) * 1.0 AS transferred
    FROM {agent_performance}
    GROUP BY partition_date, user_id
) a
LEFT JOIN {genesys_users} u ON u.user_id = a.user_id
