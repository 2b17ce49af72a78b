SELECT id, kind, typeof(kind), deleted_at, typeof(deleted_at) FROM events ORDER BY id;
SELECT count(*) FROM other;
