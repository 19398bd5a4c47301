-- Agent KPIs per org, agent and day, all queues and media types. Handling from the long table
-- agent_performance, time in status from agent_status (user aggregates); names from
-- genesys_users (deleted agents included: agents who left keep their past days). An agent who
-- was logged in but handled nothing has a row too (handled 0). Times in seconds; Genesys
-- reports milliseconds.
--   handled          tHandle.count (conversations the agent handled)
--   answered         tAnswered.count
--   aht_s            average handle time: tHandle.sum / tHandle.count
--   avg_talk_s       tTalk.sum / tTalk.count
--   avg_hold_s       tHeld.sum / tHeld.count (per hold)
--   avg_acw_s        tAcw.sum / tAcw.count (after-call work)
--   talk_s, hold_s, acw_s, handle_s   the day's totals
--   transfer_rate    nTransferred.count / tAnswered.count
--   logged_in_s      tSystemPresence.sum over every presence but OFFLINE
--   on_queue_s       tSystemPresence.sum where qualifier = 'ON_QUEUE'
--   idle_s, interacting_s, communicating_s, not_responding_s, off_queue_s
--                    tAgentRoutingStatus.sum where qualifier = IDLE, INTERACTING (on an ACD
--                    conversation: alerting, talking, holding, after-call work),
--                    COMMUNICATING (on a non-ACD one, e.g. an outbound call), NOT_RESPONDING
--                    (an alert left unanswered), OFF_QUEUE (logged in, not on queue)
--   occupancy        interacting / (interacting + idle): of the time on queue and free to
--                    take ACD work or taking it, the share taking it
-- A ratio whose denominator is 0 is NULL, never 0. The status columns are NULL for an agent
-- and day agent_status has no rows for (not 0: nothing is known of that day's status).
SELECT
    COALESCE(a.partition_date, s.partition_date) AS partition_date,
    COALESCE(a.org, s.org) AS org,
    COALESCE(a.user_id, s.user_id) AS user_id,
    u.name AS agent_name,
    u.state AS agent_state,
    COALESCE(handled, 0) AS handled,
    COALESCE(answered, 0) AS answered,
    handle_ms / NULLIF(handled, 0) / 1000 AS aht_s,
    talk_ms / NULLIF(talks, 0) / 1000 AS avg_talk_s,
    hold_ms / NULLIF(holds, 0) / 1000 AS avg_hold_s,
    acw_ms / NULLIF(acws, 0) / 1000 AS avg_acw_s,
    COALESCE(handle_ms, 0) / 1000 AS handle_s,
    COALESCE(talk_ms, 0) / 1000 AS talk_s,
    COALESCE(hold_ms, 0) / 1000 AS hold_s,
    COALESCE(acw_ms, 0) / 1000 AS acw_s,
    transferred / NULLIF(answered, 0) AS transfer_rate,
    logged_in_ms / 1000 AS logged_in_s,
    on_queue_ms / 1000 AS on_queue_s,
    idle_ms / 1000 AS idle_s,
    interacting_ms / 1000 AS interacting_s,
    communicating_ms / 1000 AS communicating_s,
    not_responding_ms / 1000 AS not_responding_s,
    off_queue_ms / 1000 AS off_queue_s,
    interacting_ms / NULLIF(interacting_ms + idle_ms, 0) AS occupancy
FROM (
    SELECT
        partition_date, org, user_id,
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
    GROUP BY partition_date, org, user_id
) a
FULL OUTER JOIN (
    SELECT
        partition_date, org, user_id,
        SUM(CASE WHEN metric = 'tSystemPresence' AND qualifier <> 'OFFLINE'
            THEN stat_sum ELSE 0 END) AS logged_in_ms,
        SUM(CASE WHEN metric = 'tSystemPresence' AND qualifier = 'ON_QUEUE'
            THEN stat_sum ELSE 0 END) AS on_queue_ms,
        SUM(CASE WHEN metric = 'tAgentRoutingStatus' AND qualifier = 'IDLE'
            THEN stat_sum ELSE 0 END) AS idle_ms,
        SUM(CASE WHEN metric = 'tAgentRoutingStatus' AND qualifier = 'INTERACTING'
            THEN stat_sum ELSE 0 END) AS interacting_ms,
        SUM(CASE WHEN metric = 'tAgentRoutingStatus' AND qualifier = 'COMMUNICATING'
            THEN stat_sum ELSE 0 END) AS communicating_ms,
        SUM(CASE WHEN metric = 'tAgentRoutingStatus' AND qualifier = 'NOT_RESPONDING'
            THEN stat_sum ELSE 0 END) AS not_responding_ms,
        SUM(CASE WHEN metric = 'tAgentRoutingStatus' AND qualifier = 'OFF_QUEUE'
            THEN stat_sum ELSE 0 END) AS off_queue_ms
    FROM {agent_status}
    GROUP BY partition_date, org, user_id
) s ON s.partition_date = a.partition_date AND s.org = a.org AND s.user_id = a.user_id
LEFT JOIN {genesys_users} u
    ON u.user_id = COALESCE(a.user_id, s.user_id) AND u.org = COALESCE(a.org, s.org)
