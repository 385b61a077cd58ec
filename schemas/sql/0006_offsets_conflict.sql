-- 0006_offsets_conflict.sql: the offsets' compare-and-set fails in the
-- server.
--
-- A batch sends its writes, the offsets' compare-and-set and COMMIT in one
-- go and reads the answers later (docs/design.md, "Two batches in
-- flight"), so a compare-and-set that matched fewer partitions than it
-- names must abort the transaction itself rather than leave the client to
-- count the rows. SQLSTATE LY409 is how the worker tells this failure
-- (another worker owns the partitions now) from any other.
CREATE FUNCTION offsets_conflict(matched bigint, expected bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'offsets moved under us (% of % partitions at the offset expected): another worker owns them now',
        matched, expected USING ERRCODE = 'LY409';
END
$$;
