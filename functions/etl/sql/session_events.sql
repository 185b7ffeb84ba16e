-- A subquery, not a statement: all events of the touched sessions, `is_new` for those this
-- batch inserted (etl_new_events, from the INSERT's RETURNING; etl_earlier_events, the rest).
(SELECT {event_columns}, true AS is_new FROM etl_new_events
 UNION ALL SELECT {event_columns}, false FROM etl_earlier_events)
