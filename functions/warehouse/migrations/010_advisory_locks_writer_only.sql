-- The ETL's run lock is a session-level advisory lock (functions/etl/warehouse.py try_lock).
-- Every role may call the advisory-lock functions by default, so a dashboard login could take
-- the ETL's key first and stop every run. Only the writer (and the migrating superuser, whose
-- migrate.py serialises on a lock of its own) may lock from now on; the unlock functions go
-- with them. Revoking a pg_catalog function's EXECUTE needs a superuser (its owner).
DO $$
DECLARE
    fn regprocedure;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'migration 010 restricts the advisory-lock functions: run the migrations as a superuser (postgres), not as %', current_user;
    END IF;
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg\_%advisory\_%'
        ORDER BY 1
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO clickstream_writer', fn);
    END LOOP;
END
$$;
