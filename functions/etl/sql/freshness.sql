-- What each run publishes (functions/etl/metrics.py): how old the newest loaded raw hour is (to
-- its end), the seconds since the last successful run finished, and the open anomalies. NULL
-- ages when nothing was loaded or nothing succeeded yet.
SELECT extract(epoch FROM now() - (SELECT max(object_hour) + interval '1 hour' FROM etl_file_manifest)),
       extract(epoch FROM now() - (SELECT max(finished_at) FROM etl_runs WHERE status = 'succeeded')),
       (SELECT count(*) FROM dq_anomalies WHERE open)
