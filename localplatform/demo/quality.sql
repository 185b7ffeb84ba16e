-- The demo's data-quality figures, read through the dashboards' functions (page "Data health"):
-- the open anomalies of the days that hold data (dashboard.anomalies), the restatements of the
-- late batch's day (:'late_day') made by the run that loaded it (:'late_run'), and how many
-- restated figures the ledger holds over all the days. One row, one JSON object.
SELECT json_build_object(
           'anomalies', (SELECT coalesce(json_agg(a ORDER BY a.hour, a.metric), '[]')
                         FROM dashboard.data_bounds() AS b
                         CROSS JOIN LATERAL dashboard.anomalies(b.first_day, b.last_day) AS a
                         WHERE a.open),
           'restatements', (SELECT coalesce(json_agg(r ORDER BY r.figure), '[]')
                            FROM dashboard.restatements(:'late_day'::date, :'late_day'::date) AS r
                            WHERE r.run_id = nullif(:'late_run', '')::bigint),
           'restated_figures', (SELECT count(*)
                                FROM dashboard.data_bounds() AS b
                                CROSS JOIN LATERAL dashboard.restatements(b.first_day, b.last_day) AS r))::text;
